# ferry-dns: the test calls the library (ferry_dns) directly and runs the ferry-dns binary
# (--check-config and the command line).
if(TARGET integration_dns_worker AND TARGET ferry_dns)
    target_link_libraries(integration_dns_worker PRIVATE ferry_dns Threads::Threads)
    target_compile_definitions(integration_dns_worker
        PRIVATE FERRY_DNS_BIN="$<TARGET_FILE:ferry-dns>")
    add_dependencies(integration_dns_worker ferry-dns)
endif()
