# The file-sync tests call the pass directly and run the binary (kill -9 mid-pass, a user who
# cannot read a file).
if(TARGET integration_file_sync AND TARGET ferry_fs)
    target_link_libraries(integration_file_sync PRIVATE ferry_fs)
    target_compile_definitions(integration_file_sync
        PRIVATE FERRY_FS_BIN="$<TARGET_FILE:ferry-file-sync>")
    add_dependencies(integration_file_sync ferry-file-sync)
endif()
