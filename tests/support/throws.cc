// Records every C++ throw in the timeline ("throw std::system_error ENOMSG:
// msgrcv(queue 7): No message of desired type"). Many mistakes make exactly
// the reference's system calls and differ only in what the code makes of
// the result: an errno read as an error that the reference answers with a
// value, or a bad argument the reference refuses before any call.
//
// The test binary defines __cxa_throw, the function every `throw` expression
// calls, the way interpose.c defines the libc calls: it notes the exception
// and hands it to the C++ runtime's definition (RTLD_NEXT).

#include <cxxabi.h>
#include <dlfcn.h>

#include <exception>
#include <string>
#include <system_error>
#include <typeinfo>

#include "tests/support/interpose.h"

namespace {

using ThrowFunction = void (*)(void*, std::type_info*, void (*)(void*));

// The object behind a thrown pointer, as a `Base` if it is one.
template <typename Base>
const Base* As(void* object, const std::type_info* type) {
  void* adjusted = object;
  // What a `catch (const Base&)` does: true, with the pointer moved to the
  // Base subobject, when the thrown type derives from Base.
  if (!typeid(Base).__do_catch(type, &adjusted, 1)) return nullptr;
  return static_cast<const Base*>(adjusted);
}

void Record(void* object, const std::type_info* type) {
  if (kata_trace == nullptr) return;
  long error = 0;
  if (const auto* system = As<std::system_error>(object, type)) {
    const std::error_category& category = system->code().category();
    if (category == std::generic_category() ||
        category == std::system_category()) {
      error = system->code().value();
    }
  }
  const auto* exception = As<std::exception>(object, type);
  kata_record_note(KATA_EVENT_THROW, error, type->name(),
                   exception != nullptr ? exception->what() : "");
}

}  // namespace

namespace __cxxabiv1 {

extern "C" [[noreturn]] void __cxa_throw(void* object, std::type_info* type,
                                         void (*destroy)(void*)) {
  static const auto real =
      reinterpret_cast<ThrowFunction>(dlsym(RTLD_NEXT, "__cxa_throw"));
  Record(object, type);
  real(object, type, destroy);
  __builtin_unreachable();
}

}  // namespace __cxxabiv1
