/* SPDX-License-Identifier: Apache-2.0 */
/* core/main.c - npshim frontend: the subcommand dispatch table. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/log.h"

#ifndef NPSHIM_VERSION
#define NPSHIM_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
	{ "simulate", cmd_simulate, "Decide flow lines against cluster files (offline)" },
	{ "explain", cmd_explain, "Explain why one connection is allowed or denied (offline)" },
	{ "lint", cmd_lint, "Check NetworkPolicies for classic mistakes (CI gate)" },
	{ "flows", cmd_flows, "Query recorded flows (SQLite, one or more nodes)" },
	{ "report", cmd_report, "Readiness gate: would-deny flows per namespace in a window" },
	{ "recommend", cmd_recommend, "Least-privilege NetworkPolicies from recorded flows, with coverage proof" },
	{ "replay", cmd_replay, "Check proposed policies against recorded flows (CI gate)" },
	{ "run", cmd_run, "Run the node daemon: enforce or audit policy through NFQUEUE" },
	{ "rules", cmd_rules, "Install, remove or show the iptables rules that feed the queue" },
	{ "status", cmd_status, "Show the running daemon's mode, model and queue counters" },
};

static const size_t n_subcommands = sizeof(subcommands) / sizeof(subcommands[0]);

static void usage(FILE *out)
{
	fprintf(out, "Usage: npshim <command> [options]\n\nCommands:\n");
	for (size_t i = 0; i < n_subcommands; i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "  %-10s %s\n", "help", "Show this list, or 'help COMMAND' for one command");
	fprintf(out, "  %-10s %s\n", "version", "Print the version");
	fprintf(out, "\nRun 'npshim COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	const char *name;

	log_init(LOG_LEVEL_INFO, "npshim", false);
	if (argc < 2) {
		usage(stderr);
		return CMD_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		if (argc > 2) {
			for (size_t i = 0; i < n_subcommands; i++) {
				if (strcmp(argv[2], subcommands[i].name) == 0) {
					char *sub_argv[] = { argv[2], (char *)"--help", NULL };
					return subcommands[i].fn(2, sub_argv);
				}
			}
			fprintf(stderr, "npshim: unknown command '%s'\n", argv[2]);
			return CMD_USAGE;
		}
		usage(stdout);
		return CMD_OK;
	}
	if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
		printf("npshim %s\n", NPSHIM_VERSION);
		return CMD_OK;
	}
	for (size_t i = 0; i < n_subcommands; i++) {
		if (strcmp(name, subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "npshim: unknown command '%s'; try 'npshim help'\n", name);
	return CMD_USAGE;
}
