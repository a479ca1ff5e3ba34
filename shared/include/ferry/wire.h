/*
 * wire.h - helpers for the wire contract in proto/ferry.proto: kind and operation names, topic
 * names, and validated encoding and decoding of step commands.
 *
 * Validation is the contract's guard: a command that names an operation of another kind, lacks
 * its kind's parameters, or carries something that looks like a secret (a password in a
 * connection string or URL) is refused at encode time and at decode time alike.
 */
#ifndef FERRY_WIRE_H
#define FERRY_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.pb-c.h"
#include "ferry/error.h"

#define FERRY_WIRE_ID_MAX 128 /* longest migration or step id */

/* "dump_restore", "file_sync", "dns", "app"; NULL for an unknown kind. */
const char *ferry_wire_kind_name(Ferry__V1__StepKind kind);

/* Parses a kind name; returns -1 when unknown. */
int ferry_wire_kind_parse(const char *name, Ferry__V1__StepKind *out);

/* "copy", "verify", "pass", "lower_ttl", "rename", "check", "start", "stop", "status";
 * NULL for an unknown operation. */
const char *ferry_wire_operation_name(Ferry__V1__Operation op);

/* The kind an operation belongs to (UNSPECIFIED for an unknown operation). */
Ferry__V1__StepKind ferry_wire_operation_kind(Ferry__V1__Operation op);

/* Writes "<prefix>steps.<kind>" ("ferry.steps.dump_restore") into out. Returns -1 if the kind
 * is unknown or out is too small. */
int ferry_wire_step_topic(const char *prefix, Ferry__V1__StepKind kind, char *out, size_t outsz);

/* Writes "<prefix>dead_letter" into out; -1 if out is too small. */
int ferry_wire_dead_letter_topic(const char *prefix, char *out, size_t outsz);

/* Checks a command against the contract; the message names the first offending field. */
ferry_rc ferry_wire_step_validate(const Ferry__V1__StepCommand *cmd, ferry_err *err);

/* Validates and packs cmd. On success *out is malloc'd (caller frees with free()). */
ferry_rc ferry_wire_step_encode(const Ferry__V1__StepCommand *cmd, uint8_t **out, size_t *len,
                                ferry_err *err);

/* Unpacks and validates. On success caller frees *out with ferry_wire_step_free(). A message
 * that does not decode gives FERRY_ERR_DECODE; one that decodes but breaks the contract gives
 * FERRY_ERR_INVALID. Either way it belongs on the dead-letter topic. */
ferry_rc ferry_wire_step_decode(const void *data, size_t len, Ferry__V1__StepCommand **out,
                                ferry_err *err);

void ferry_wire_step_free(Ferry__V1__StepCommand *cmd);

/* True when text holds something that looks like a credential: a password in URL userinfo
 * (scheme://user:pw@host), or a key=value whose key ends in "password" or is "passwd" (libpq's
 * password and sslpassword, a URL's ?password=). */
int ferry_wire_has_secret(const char *text);

#endif
