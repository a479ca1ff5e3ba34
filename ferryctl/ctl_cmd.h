/*
 * ctl_cmd.h - ferryctl's verbs: each is one request to the coordinator's API (a bulk command:
 * one per app), its answer shown through view.h, and an exit code (ctlargs.h). Results go to
 * stdout, failures to stderr as "ferryctl: <verb> <target>: <what>: <server message>".
 */
#ifndef FERRY_CTL_CMD_H
#define FERRY_CTL_CMD_H

#include "ctl_client.h"
#include "ctlargs.h"

/* Runs the verb of args (not help or version) through client (borrowed). Returns the exit
 * code. */
int ctl_cmd_run(const ferry_ctl_args *args, ctl_client *client);

#endif
