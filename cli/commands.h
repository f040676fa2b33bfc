/* SPDX-License-Identifier: Apache-2.0 */
/* cli/commands.h - subcommand entry points.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status: 0 success, 1 a negative
 * answer the command documents (a deny, a failed gate), 2 bad usage or bad
 * input, 3 a runtime failure. Every one accepts --help.
 */
#ifndef NPSHIM_CLI_COMMANDS_H
#define NPSHIM_CLI_COMMANDS_H

enum {
	CMD_OK = 0,
	CMD_NEGATIVE = 1,
	CMD_USAGE = 2,
	CMD_FAILURE = 3,
};

int cmd_simulate(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_flows(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_replay(int argc, char **argv);


#endif
