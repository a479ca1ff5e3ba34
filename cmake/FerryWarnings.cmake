# Strict warnings, hardening and the optional sanitizers, as one interface target.
# Generated code (protobuf-c) links ferry_relaxed_flags instead.

# The fuzz build (below) keeps the warnings but not -Werror: clang warns about other things.
if(FERRY_FUZZ)
    set(FERRY_WERROR "")
else()
    set(FERRY_WERROR -Werror)
endif()

add_library(ferry_flags INTERFACE)
target_compile_definitions(ferry_flags INTERFACE _DEFAULT_SOURCE)
target_compile_options(ferry_flags INTERFACE
    -Wall -Wextra ${FERRY_WERROR} -pedantic
    -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
    -Wformat=2 $<$<C_COMPILER_ID:GNU>:-Wformat-overflow=2> -Wformat-security
    -Wpointer-arith -Wcast-align -Wwrite-strings -Wundef -Wvla
    -Wnull-dereference -Wimplicit-fallthrough
    -Wmissing-declarations -Wredundant-decls -Wdouble-promotion)

add_library(ferry_relaxed_flags INTERFACE)
target_compile_definitions(ferry_relaxed_flags INTERFACE _DEFAULT_SOURCE)
target_compile_options(ferry_relaxed_flags INTERFACE -w)

# Hardening for every target, project code and generated code alike.
add_compile_options(-fstack-protector-strong -fstack-clash-protection -fcf-protection -fPIE)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_link_options(-pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)

# The fuzz build (fuzz/, make fuzz): clang's libFuzzer hooks and the sanitizers in every
# library, so a fuzz target sees the code as it runs.
if(FERRY_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "FERRY_FUZZ needs clang (CC=clang; make fuzz does it)")
    endif()
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                        -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

if(FERRY_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
