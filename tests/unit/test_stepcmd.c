/*
 * test_stepcmd.c - the StepCommand each purpose builds from a spec (coordinator/stepcmd.c):
 * DNS steps split by zone and key, each name changed in its own zone (issue 12, 2.6); the
 * copies and passes that verify; a copy's overwrite flag.
 */
#include <stdio.h>
#include <string.h>

#include "stepcmd.h"
#include "ferry_test.h"
#include "spec.h"
#include "ferry/wire.h"

/* Two environments in zones of their own; production's target uses another API key. */
static const char spec_text[] =
    "{\"app\": \"shop\", \"environments\": {"
    " \"production\": {"
    "  \"source\": {\"id\": \"11111111-1111-4111-8111-111111111111\", \"database\": {\"conninfo\": "
    "\"host=db3 dbname=shop\"},"
    "   \"files\": {\"directory\": \"/srv/shop/production\"},"
    "   \"dns\": {\"zone\": \"example.com.\", \"names\": [\"shop.example.com.\"],"
    "            \"api_key_secret\": \"PDNS_A\"},"
    "   \"runtime\": {\"platform\": \"supervisor\", \"app\": \"shop-v3\"}},"
    "  \"target\": {\"id\": \"22222222-2222-4222-8222-222222222222\", \"database\": {\"conninfo\": "
    "\"host=db4 dbname=shop\"},"
    "   \"files\": {\"directory\": \"/srv/shop-v4/production\"},"
    "   \"dns\": {\"zone\": \"example.com.\", \"names\": [\"shop-v4.example.com.\"],"
    "            \"api_key_secret\": \"PDNS_B\"},"
    "   \"runtime\": {\"platform\": \"supervisor\", \"app\": \"shop-v4\"}}},"
    " \"test\": {"
    "  \"source\": {\"id\": \"33333333-3333-4333-8333-333333333333\", \"database\": {\"conninfo\": "
    "\"host=db3 dbname=shop_test\"},"
    "   \"files\": {\"directory\": \"/srv/shop/test\"},"
    "   \"dns\": {\"zone\": \"test.example.net.\", \"names\": [\"shop-test.test.example.net.\"]},"
    "   \"runtime\": {\"platform\": \"supervisor\", \"app\": \"shop-v3-test\"}},"
    "  \"target\": {\"id\": \"44444444-4444-4444-8444-444444444444\", \"database\": {\"conninfo\": "
    "\"host=db4 dbname=shop_test\"},"
    "   \"files\": {\"directory\": \"/srv/shop-v4/test\"},"
    "   \"dns\": {\"zone\": \"test.example.net.\","
    "            \"names\": [\"shop-v4-test.test.example.net.\"]},"
    "   \"runtime\": {\"platform\": \"supervisor\", \"app\": \"shop-v4-test\"}}}}}";

static ferry_spec *spec;

static int suite_init(void)
{
    ferry_err err = {0};
    ferry_spec_problems problems = {0};
    ferry_rc rc = ferry_spec_parse(spec_text, strlen(spec_text), &spec, &problems, &err);
    for (size_t i = 0; i < problems.count; i++)
        fprintf(stderr, "%s: %s\n", problems.items[i].path, problems.items[i].message);
    ferry_spec_problems_cleanup(&problems);
    return rc == FERRY_OK ? 0 : -1;
}

static int suite_cleanup(void)
{
    ferry_spec_free(spec);
    return 0;
}

static ferry_rc build(const char *env, const char *purpose, bool overwrite, stepcmd_built *b)
{
    stepcmd_for st = {.migration = "shop.production",
                      .env = env,
                      .step = "s-1",
                      .purpose = purpose,
                      .attempt = 1,
                      .overwrite = overwrite,
                      .issued_by = "test"};
    ferry_err err = {0};
    ferry_rc rc = stepcmd_build(spec, &st, b, &err);
    if (rc != FERRY_OK)
        fprintf(stderr, "\n%s: %s\n", purpose, err.msg);
    return rc;
}

static const char *key_of(const Ferry__V1__DnsZone *z)
{
    return z->api_key != NULL ? z->api_key->name : "(worker's own)";
}

/* Cutover: every environment's renames, each zone once with the key of the side that names
 * it first, chains within a zone in one change, in order. */
static void test_rename_by_zone(void)
{
    stepcmd_built b;
    CU_ASSERT_EQUAL_FATAL(build("production", "cutover.rename", false, &b), FERRY_OK);
    const Ferry__V1__DnsParams *d = b.cmd.dns;
    CU_ASSERT_EQUAL_FATAL(d->n_zones, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->zone, "example.com.");
    CU_ASSERT_STRING_EQUAL(key_of(d->zones[0]), "PDNS_A"); /* the source's */
    CU_ASSERT_EQUAL_FATAL(d->zones[0]->n_renames, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[0]->from, "shop.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[0]->to, "shop-v3.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[1]->from, "shop-v4.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[1]->to, "shop.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->zone, "test.example.net.");
    CU_ASSERT_STRING_EQUAL(key_of(d->zones[1]), "(worker's own)");
    CU_ASSERT_EQUAL_FATAL(d->zones[1]->n_renames, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[0]->from, "shop-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[0]->to, "shop-v3-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[1]->from, "shop-v4-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[1]->to, "shop-test.test.example.net.");
    stepcmd_cleanup(&b);

    /* Rollback: the reverse, targets give their names back first. */
    CU_ASSERT_EQUAL_FATAL(build("production", "rollback.rename", false, &b), FERRY_OK);
    d = b.cmd.dns;
    CU_ASSERT_EQUAL_FATAL(d->n_zones, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->zone, "test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[0]->from, "shop-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[0]->to, "shop-v4-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->renames[1]->from, "shop-v3-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->zone, "example.com.");
    CU_ASSERT_STRING_EQUAL(key_of(d->zones[1]), "PDNS_B"); /* the target's names come first */
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[0]->from, "shop.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->renames[1]->from, "shop-v3.example.com.");
    stepcmd_cleanup(&b);
}

/* TTL: lowering takes one environment's names as they are; giving it back after the final
 * migration takes every environment's names as the cutover left them. */
static void test_ttl_names(void)
{
    stepcmd_built b;
    CU_ASSERT_EQUAL_FATAL(build("test", "replicate.ttl", false, &b), FERRY_OK);
    const Ferry__V1__DnsParams *d = b.cmd.dns;
    CU_ASSERT_EQUAL_FATAL(d->n_zones, 1);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->zone, "test.example.net.");
    CU_ASSERT_EQUAL_FATAL(d->zones[0]->n_names, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->names[0], "shop-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->names[1], "shop-v4-test.test.example.net.");
    stepcmd_cleanup(&b);

    CU_ASSERT_EQUAL_FATAL(build("production", "migrated.restore_ttl", false, &b), FERRY_OK);
    d = b.cmd.dns;
    CU_ASSERT_EQUAL(b.cmd.operation, FERRY__V1__OPERATION__OPERATION_DNS_RESTORE_TTL);
    CU_ASSERT_EQUAL_FATAL(d->n_zones, 2);
    CU_ASSERT_EQUAL_FATAL(d->zones[0]->n_names, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[0]->names[0], "shop-v3.example.com.");
    CU_ASSERT_STRING_EQUAL(d->zones[0]->names[1], "shop.example.com.");
    CU_ASSERT_EQUAL_FATAL(d->zones[1]->n_names, 2);
    CU_ASSERT_STRING_EQUAL(d->zones[1]->names[0], "shop-v3-test.test.example.net.");
    CU_ASSERT_STRING_EQUAL(d->zones[1]->names[1], "shop-test.test.example.net.");
    stepcmd_cleanup(&b);
}

/* Stopping replication verifies like the cutover, so it measures the cutover's work. */
static void test_verifying_steps(void)
{
    static const struct {
        const char *purpose;
        bool verify;
    } cases[] = {{"replicate.dr", false}, {"stop.dr", true}, {"cutover.dr", true},
                 {"replicate.fs", false}, {"stop.fs", true}, {"cutover.fs", true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stepcmd_built b;
        CU_ASSERT_EQUAL_FATAL(build("production", cases[i].purpose, false, &b), FERRY_OK);
        bool verify = b.cmd.params_case == FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE
                          ? b.cmd.dump_restore->verify
                          : b.cmd.file_sync->verify;
        if (verify != cases[i].verify)
            fprintf(stderr, "\n%s: verify %d\n", cases[i].purpose, verify);
        CU_ASSERT_EQUAL(verify, cases[i].verify);
        stepcmd_cleanup(&b);
    }
}

static void test_overwrite(void)
{
    stepcmd_built b;
    CU_ASSERT_EQUAL_FATAL(build("production", "replicate.dr", false, &b), FERRY_OK);
    CU_ASSERT_FALSE(b.cmd.dump_restore->overwrite);
    stepcmd_cleanup(&b);
    CU_ASSERT_EQUAL_FATAL(build("production", "replicate.dr", true, &b), FERRY_OK);
    CU_ASSERT_TRUE(b.cmd.dump_restore->overwrite);
    stepcmd_cleanup(&b);
}

/* The logical method's steps: their operation, the slot, the start's verify. */
static void test_logical_steps(void)
{
    static const struct {
        const char *purpose;
        const char *operation;
        bool slot, verify;
    } cases[] = {{"replicate.check_logical", "logical_check", false, false},
                 {"replicate.start", "logical_start", true, true},
                 {"replicate.stream", "logical_stream", true, false},
                 {"cutover.finish", "logical_finish", true, false},
                 {"slot.drop", "logical_drop", true, false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stepcmd_built b;
        CU_ASSERT_EQUAL_FATAL(build("production", cases[i].purpose, false, &b), FERRY_OK);
        CU_ASSERT_STRING_EQUAL(ferry_wire_operation_name(b.cmd.operation), cases[i].operation);
        const char *slot = b.cmd.dump_restore->slot;
        CU_ASSERT_EQUAL(slot != NULL && slot[0] != '\0', cases[i].slot);
        if (cases[i].slot)
            CU_ASSERT_STRING_EQUAL(slot, "ferry_shop_production");
        CU_ASSERT_EQUAL(b.cmd.dump_restore->verify, cases[i].verify);
        ferry_err err = {0};
        CU_ASSERT_EQUAL(ferry_wire_step_validate(&b.cmd, &err), FERRY_OK);
        /* A worker refuses a command whose slot PostgreSQL would not take, or that lacks one. */
        if (cases[i].slot) {
            b.cmd.dump_restore->slot = (char *)"Bad-Slot";
            CU_ASSERT_EQUAL(ferry_wire_step_validate(&b.cmd, &err), FERRY_ERR_INVALID);
            b.cmd.dump_restore->slot = (char *)"";
            CU_ASSERT_EQUAL(ferry_wire_step_validate(&b.cmd, &err), FERRY_ERR_INVALID);
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dump_restore.slot: required"));
        }
        stepcmd_cleanup(&b);
    }
    /* Slot names: what PostgreSQL allows, one per migration even when cut short. */
    char a[80], c[80];
    stepcmd_slot_name("web-shop.acceptance", a, sizeof(a));
    CU_ASSERT_STRING_EQUAL(a, "ferry_web_shop_acceptance");
    stepcmd_slot_name("a123456789012345678901234567890123456789012345678901234567890.production", a,
                      sizeof(a));
    stepcmd_slot_name("a123456789012345678901234567890123456789012345678901234567890.productio2", c,
                      sizeof(c));
    CU_ASSERT_EQUAL(strlen(a), STEPCMD_SLOT_MAX);
    CU_ASSERT_STRING_NOT_EQUAL(a, c);
    CU_ASSERT_EQUAL(strncmp(a, "ferry_a1234", 11), 0);
}

static const ferry_test_case cases[] = {
    {"the logical method's steps and slot", test_logical_steps},
    {"DNS renames by zone and key", test_rename_by_zone},
    {"TTL names, before and after the cutover", test_ttl_names},
    {"the copies and passes that verify", test_verifying_steps},
    {"a copy's overwrite flag", test_overwrite},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"stepcmd", suite_init, suite_cleanup, cases},
                                              {NULL}};
    return ferry_test_main(suites);
}
