/* SPDX-License-Identifier: Apache-2.0 */
/* cli/options.c - the messages every command gives for a bad option. */
#include <getopt.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/log.h"

int cli_option_error(const char *cmd, int c, char **argv)
{
	const char *opt = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		log_errx("%s: %s needs a value; see 'npshim %s --help'", cmd, opt, cmd);
	else
		log_errx("%s: unknown option '%s'; see 'npshim %s --help'", cmd, opt, cmd);
	return CMD_USAGE;
}
