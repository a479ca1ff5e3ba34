/* Unit tests for wire.c: names, topics, and the contract's validation at encode and decode. */
#include <stdlib.h>
#include <string.h>

#include "ferry/wire.h"
#include "ferry_test.h"

/* protobuf-c fields are char *; the literals here are only read. */
#define LIT(s) ((char *)(s))

/* A valid dump-restore command on the stack; the strings are static. */
typedef struct fixture {
    Ferry__V1__StepCommand cmd;
    Ferry__V1__DumpRestoreParams dr;
    Ferry__V1__Database src, dst;
    Ferry__V1__SecretRef src_pw, dst_pw;
} fixture;

static void fixture_init(fixture *f)
{
    ferry__v1__step_command__init(&f->cmd);
    ferry__v1__dump_restore_params__init(&f->dr);
    ferry__v1__database__init(&f->src);
    ferry__v1__database__init(&f->dst);
    ferry__v1__secret_ref__init(&f->src_pw);
    ferry__v1__secret_ref__init(&f->dst_pw);
    f->src_pw.name = LIT("SHOP_PRODUCTION_SOURCE_DB");
    f->dst_pw.name = LIT("SHOP_PRODUCTION_TARGET_DB");
    f->src.conninfo = LIT("postgresql://ferry@127.0.0.1:15432/shop");
    f->src.password = &f->src_pw;
    f->dst.conninfo = LIT("host=127.0.0.1 port=15433 user=ferry dbname=shop");
    f->dst.password = &f->dst_pw;
    f->dr.source = &f->src;
    f->dr.target = &f->dst;
    f->dr.parallel_tables = 4;
    f->cmd.migration_id = LIT("shop-production");
    f->cmd.step_id = LIT("dump_restore-1");
    f->cmd.attempt = 1;
    f->cmd.kind = FERRY__V1__STEP_KIND__STEP_KIND_DUMP_RESTORE;
    f->cmd.operation = FERRY__V1__OPERATION__OPERATION_DUMP_RESTORE_COPY;
    f->cmd.deadline_unix_ms = 1700000000000;
    f->cmd.params_case = FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE;
    f->cmd.dump_restore = &f->dr;
}

static void names_and_topics(void)
{
    char topic[64];
    CU_ASSERT_EQUAL(ferry_wire_step_topic("ferry.", FERRY__V1__STEP_KIND__STEP_KIND_FILE_SYNC,
                                          topic, sizeof(topic)),
                    0);
    CU_ASSERT_STRING_EQUAL(topic, "ferry.steps.file_sync");
    CU_ASSERT_EQUAL(ferry_wire_step_topic("ferry.", FERRY__V1__STEP_KIND__STEP_KIND_UNSPECIFIED,
                                          topic, sizeof(topic)),
                    -1);
    CU_ASSERT_EQUAL(ferry_wire_step_topic("ferry.", FERRY__V1__STEP_KIND__STEP_KIND_DNS, topic, 8),
                    -1);
    CU_ASSERT_EQUAL(ferry_wire_dead_letter_topic("ferry.", topic, sizeof(topic)), 0);
    CU_ASSERT_STRING_EQUAL(topic, "ferry.dead_letter");
    Ferry__V1__StepKind kind;
    CU_ASSERT_EQUAL(ferry_wire_kind_parse("app", &kind), 0);
    CU_ASSERT_EQUAL(kind, FERRY__V1__STEP_KIND__STEP_KIND_APP);
    CU_ASSERT_EQUAL(ferry_wire_kind_parse("ftp", &kind), -1);
    CU_ASSERT_EQUAL(ferry_wire_operation_kind(FERRY__V1__OPERATION__OPERATION_DNS_RENAME),
                    FERRY__V1__STEP_KIND__STEP_KIND_DNS);
    CU_ASSERT_STRING_EQUAL(ferry_wire_operation_name(FERRY__V1__OPERATION__OPERATION_APP_STOP),
                           "stop");
}

static void round_trip(void)
{
    fixture f;
    fixture_init(&f);
    ferry_err err;
    uint8_t *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_OK);
    CU_ASSERT_TRUE(len > 0);
    Ferry__V1__StepCommand *got = NULL;
    CU_ASSERT_EQUAL_FATAL(ferry_wire_step_decode(buf, len, &got, &err), FERRY_OK);
    CU_ASSERT_STRING_EQUAL(got->migration_id, "shop-production");
    CU_ASSERT_STRING_EQUAL(got->step_id, "dump_restore-1");
    CU_ASSERT_EQUAL(got->attempt, 1);
    CU_ASSERT_EQUAL(got->deadline_unix_ms, 1700000000000);
    CU_ASSERT_EQUAL_FATAL(got->params_case, FERRY__V1__STEP_COMMAND__PARAMS_DUMP_RESTORE);
    CU_ASSERT_STRING_EQUAL(got->dump_restore->source->password->name, "SHOP_PRODUCTION_SOURCE_DB");
    CU_ASSERT_EQUAL(got->dump_restore->parallel_tables, 4);
    ferry_wire_step_free(got);
    free(buf);
}

/* Each mutation breaks the contract; encode refuses it and names the field. */
static void refuses_bad_commands(void)
{
    ferry_err err;
    uint8_t *buf = NULL;
    size_t len = 0;
    fixture f;

    fixture_init(&f);
    f.cmd.migration_id = LIT("");
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "migration_id"));
    CU_ASSERT_PTR_NULL(buf);

    fixture_init(&f);
    f.cmd.step_id = LIT("a step with spaces");
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "step_id"));

    fixture_init(&f);
    f.cmd.attempt = 0;
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "attempt"));

    fixture_init(&f);
    f.cmd.operation = FERRY__V1__OPERATION__OPERATION_APP_START;
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "start is not an operation of dump_restore"));

    fixture_init(&f);
    f.cmd.params_case = FERRY__V1__STEP_COMMAND__PARAMS__NOT_SET;
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "params: required"));

    fixture_init(&f);
    f.cmd.kind = FERRY__V1__STEP_KIND__STEP_KIND_APP;
    f.cmd.operation = FERRY__V1__OPERATION__OPERATION_APP_START;
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "do not match kind app"));

    /* Secrets never travel: a password in a URL or a conninfo is refused. */
    fixture_init(&f);
    f.src.conninfo = LIT("postgresql://ferry:hunter22@db/shop");
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dump_restore.source.conninfo: holds a password"));
    CU_ASSERT_PTR_NULL(strstr(err.msg, "hunter22"));

    fixture_init(&f);
    f.dst.conninfo = LIT("host=db user=ferry password=hunter22");
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dump_restore.target.conninfo: holds a password"));

    fixture_init(&f);
    f.src_pw.name = LIT("hunter22");
    CU_ASSERT_EQUAL(ferry_wire_step_encode(&f.cmd, &buf, &len, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dump_restore.source.password"));
    CU_ASSERT_PTR_NULL(buf);
}

static void decode_refuses_garbage_and_contract_breaks(void)
{
    ferry_err err;
    Ferry__V1__StepCommand *got = NULL;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
    CU_ASSERT_EQUAL(ferry_wire_step_decode(garbage, sizeof(garbage), &got, &err), FERRY_ERR_DECODE);
    CU_ASSERT_PTR_NULL(got);

    /* Well-formed protobuf that breaks the contract: an empty message. */
    Ferry__V1__StepCommand empty = FERRY__V1__STEP_COMMAND__INIT;
    uint8_t buf[16];
    size_t len = ferry__v1__step_command__pack(&empty, buf);
    CU_ASSERT_EQUAL(ferry_wire_step_decode(buf, len, &got, &err), FERRY_ERR_INVALID);
    CU_ASSERT_PTR_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "step command: migration_id"));
}

static void secret_detection(void)
{
    CU_ASSERT_TRUE(ferry_wire_has_secret("redis://:pw@h:1/0"));
    CU_ASSERT_TRUE(ferry_wire_has_secret("host=h PASSWORD = x"));
    CU_ASSERT_FALSE(ferry_wire_has_secret("postgresql://ferry@h/db"));
    CU_ASSERT_FALSE(ferry_wire_has_secret("host=h passwordless=1"));
    /* libpq's sslpassword (the client key's passphrase) is as secret as the password. */
    CU_ASSERT_TRUE(ferry_wire_has_secret("host=h sslkey=/k sslpassword=x"));
    CU_ASSERT_TRUE(ferry_wire_has_secret("postgresql://ferry@h/db?sslmode=require&sslpassword=x"));
    CU_ASSERT_TRUE(ferry_wire_has_secret("postgresql://ferry@h/db?password=x"));
    CU_ASSERT_TRUE(ferry_wire_has_secret("host=h passwd=x"));
    CU_ASSERT_FALSE(ferry_wire_has_secret("host=h sslmode=require sslkey=/k"));
    CU_ASSERT_FALSE(ferry_wire_has_secret("host=h password_secret=PG"));
    CU_ASSERT_FALSE(ferry_wire_has_secret("http://h/p?a=b:c@d"));
    CU_ASSERT_FALSE(ferry_wire_has_secret(NULL));
}

static const ferry_test_case cases[] = {
    {"names and topics", names_and_topics},
    {"encode/decode round trip", round_trip},
    {"encode refuses contract breaks and secrets", refuses_bad_commands},
    {"decode refuses garbage and contract breaks", decode_refuses_garbage_and_contract_breaks},
    {"secret detection", secret_detection},
    {NULL, NULL},
};

int main(void)
{
    static const ferry_test_suite suites[] = {{"wire", NULL, NULL, cases},
                                              {NULL, NULL, NULL, NULL}};
    return ferry_test_main(suites);
}
