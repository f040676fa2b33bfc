/* SPDX-License-Identifier: Apache-2.0 */
/* cli/options.h - the messages every command gives for a bad option. */
#ifndef NPSHIM_CLI_OPTIONS_H
#define NPSHIM_CLI_OPTIONS_H

/* After getopt_long (with a leading ':' in its short options and opterr
 * 0) returned c for an option it could not take: ':' is a missing value,
 * anything else an unknown option. Names the option as written and the
 * command's --help. Returns CMD_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv);

#endif
