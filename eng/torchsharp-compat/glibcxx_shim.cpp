// libglibcxx_shim.so -- compatibility shim for TorchSharp's libLibTorchSharp.so on
// systems whose libstdc++ predates GCC 13 (no GLIBCXX_3.4.32), e.g. Debian 12.
//
// Background: GCC 13's <iostream> no longer emits a per-TU `static ios_base::Init`
// object. Instead every TU that includes <iostream> references
// `std::ios_base_library_init()` (GLIBCXX_3.4.32) purely so the link pulls in a
// libstdc++ that constructs std::cout & co. itself (ios_init.cc, init_priority).
// The function has no behaviour of its own; in libstdc++ 13 it is empty.
//
// patch_libtorchsharp.py clears the symbol version of that reference, marks the
// GLIBCXX_3.4.32 requirement weak, and adds this library as DT_NEEDED. We then
// provide the symbol (empty), and -- because the old libstdc++ does NOT initialise
// the standard streams by itself -- we construct an ios_base::Init object here.
// Being a DT_NEEDED dependency of libLibTorchSharp.so, our constructors run before
// libLibTorchSharp.so's, so std::cout/cerr are usable from its static initialisers
// exactly as with a GCC 13 runtime. ios_base::Init is reference counted, so this is
// harmless when other libraries (e.g. libtorch_cpu.so) also initialise the streams.

#include <ios>

namespace {
// Compiled with the system (pre-13) g++, this is the classic <iostream> idiom.
std::ios_base::Init s_glibcxx_shim_ios_init;
}

namespace std {
// Exported with default visibility and no symbol version, so the (now
// unversioned) reference in libLibTorchSharp.so binds here.
__attribute__((visibility("default"))) void ios_base_library_init() {}
}
