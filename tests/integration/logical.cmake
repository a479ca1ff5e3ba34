# The logical method's tests call the start and the stream directly and run the binary (a
# stream killed with -9 mid-transaction), on the stack's two PostgreSQL servers.
if(TARGET integration_logical AND TARGET ferry_dr)
    target_link_libraries(integration_logical PRIVATE ferry_dr ferry_pg_test)
    target_compile_definitions(integration_logical
        PRIVATE FERRY_DR_BIN="$<TARGET_FILE:ferry-dump-restore>"
                FERRY_STACK="${PROJECT_SOURCE_DIR}/deploy/local/stack")
    add_dependencies(integration_logical ferry-dump-restore)
endif()
# The decoder's unit test.
if(TARGET unit_pgoutput AND TARGET ferry_dr)
    target_link_libraries(unit_pgoutput PRIVATE ferry_dr)
endif()
