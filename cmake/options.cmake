# Project-wide compile settings live in two INTERFACE targets that every target links
# PRIVATE, so that consumers of our libraries never inherit our warning policy.
add_library(icalgate_warnings INTERFACE)
target_compile_options(icalgate_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2 -Wmissing-declarations)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -O2 pairs asio's coroutine-frame operator delete with the wrong new
  # (a known false positive, GCC PR 109224) and would fail -Werror on correct code.
  target_compile_options(icalgate_warnings INTERFACE -Wno-mismatched-new-delete)
endif()
if(ICALGATE_WERROR)
  target_compile_options(icalgate_warnings INTERFACE -Werror)
endif()

add_library(icalgate_options INTERFACE)
target_compile_features(icalgate_options INTERFACE cxx_std_20)
if(ICALGATE_SANITIZE)
  target_compile_options(icalgate_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(icalgate_options INTERFACE -fsanitize=address,undefined)
endif()
if(ICALGATE_FUZZ)
  # Instrument the libraries for coverage; only the fuzz executables link the driver.
  # clang 14's -fsanitize=function cannot emit coroutine frames ("Cannot represent a
  # difference across sections"); the rest of UBSan stays on.
  target_compile_options(icalgate_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(icalgate_options INTERFACE -fsanitize=address,undefined)
endif()
