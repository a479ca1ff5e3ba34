# ferry_embed(<target-var> <symbol-prefix> [PROLOGUE <file>] <files...>): turns text files (Lua,
# SQL) into C string constants at build time, so scripts live in their own reviewable files.
# PROLOGUE: a text put at the start of every file (after its "#!" line, if any).
# KEEP_EXT: the table names each file with its extension (the page's files: app.js, app.css).
# Produces <binary-dir>/<prefix>_embedded.c and .h with, for each file foo.lua,
#   extern const char <prefix>_foo[];
# and sets <target-var> to the generated .c file.

set(FERRY_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed.cmake)

function(ferry_embed out_var prefix)
    cmake_parse_arguments(PARSE_ARGV 2 EMBED "KEEP_EXT" "PROLOGUE" "")
    set(files ${EMBED_UNPARSED_ARGUMENTS})
    set(out_c ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_embedded.c)
    set(out_h ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_embedded.h)
    add_custom_command(
        OUTPUT ${out_c} ${out_h}
        COMMAND ${CMAKE_COMMAND} -DPREFIX=${prefix} -DOUT_C=${out_c} -DOUT_H=${out_h}
                "-DFILES=${files}" "-DPROLOGUE=${EMBED_PROLOGUE}" "-DKEEP_EXT=${EMBED_KEEP_EXT}"
                -P ${FERRY_EMBED_SCRIPT}
        DEPENDS ${files} ${EMBED_PROLOGUE} ${FERRY_EMBED_SCRIPT}
        COMMENT "Embedding ${prefix} scripts"
        VERBATIM)
    set(${out_var} ${out_c} PARENT_SCOPE)
endfunction()
