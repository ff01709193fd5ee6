/*
 * cmd_audit: `mnmfa audit verify|head|export|show|report ...`, dispatched by
 * a table of subcommands in cmd_audit.c.
 */
#ifndef MNMFA_CMD_AUDIT_H
#define MNMFA_CMD_AUDIT_H

/* argv[0] is the subcommand. Returns the process exit code (SPEC §2). */
int audit_cmd(int argc, char **argv);

#endif
