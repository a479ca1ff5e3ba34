# ferry_embed(<target-var> <symbol-prefix> <files...>): turns text files (Lua, SQL) into C
# string constants at build time, so scripts live in their own reviewable files.
# Produces <binary-dir>/<prefix>_embedded.c and .h with, for each file foo.lua,
#   extern const char <prefix>_foo[];
# and sets <target-var> to the generated .c file.

set(FERRY_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed.cmake)

function(ferry_embed out_var prefix)
    set(out_c ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_embedded.c)
    set(out_h ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_embedded.h)
    add_custom_command(
        OUTPUT ${out_c} ${out_h}
        COMMAND ${CMAKE_COMMAND} -DPREFIX=${prefix} -DOUT_C=${out_c} -DOUT_H=${out_h}
                "-DFILES=${ARGN}" -P ${FERRY_EMBED_SCRIPT}
        DEPENDS ${ARGN} ${FERRY_EMBED_SCRIPT}
        COMMENT "Embedding ${prefix} scripts"
        VERBATIM)
    set(${out_var} ${out_c} PARENT_SCOPE)
endfunction()
