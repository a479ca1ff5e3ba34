# ferry-app: the test calls the library (ferry_app) directly, runs the ferry-app binary's
# command line, and talks to ferry-mendix-standin (tests/support/mendix_standin.c), a stand-in
# for the Mendix Deploy API v1 it starts as a process.
if(TARGET ferry_app)
    add_executable(ferry-mendix-standin ${CMAKE_CURRENT_SOURCE_DIR}/support/mendix_standin.c)
    target_link_libraries(ferry-mendix-standin
        PRIVATE ferry_flags PkgConfig::MHD PkgConfig::JANSSON Threads::Threads)
endif()
if(TARGET integration_app_worker AND TARGET ferry_app)
    target_link_libraries(integration_app_worker PRIVATE ferry_app)
    target_compile_definitions(integration_app_worker
        PRIVATE FERRY_APP_BIN="$<TARGET_FILE:ferry-app>"
                FERRY_MENDIX_STANDIN_BIN="$<TARGET_FILE:ferry-mendix-standin>")
    add_dependencies(integration_app_worker ferry-app ferry-mendix-standin)
endif()
