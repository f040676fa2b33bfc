/* SPDX-License-Identifier: Apache-2.0 */
/* cli/cmd_rules.c - `npshim rules install|remove|show`: the NPSHIM chain by hand. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/log.h"
#include "nfq/rules.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: npshim rules install [--queues FIRST[:LAST]] [--fail-open|--fail-closed]\n"
		"                            [--hooks forward[,input,output]] [--mark BITS] [-4|-6]\n"
		"       npshim rules remove [-4|-6]\n"
		"       npshim rules show [-4|-6] [--output text|json]\n"
		"\n"
		"The iptables rules that send new connections to npshim's queues: a chain\n"
		"NPSHIM in the filter table, jumped to from the first rule of FORWARD (and\n"
		"INPUT/OUTPUT with --hooks). Only conntrack NEW packets whose connection\n"
		"lacks the mark bits are queued. 'npshim run' installs and removes the same\n"
		"rules itself; these verbs are for inspection and recovery.\n"
		"\n"
		"  --queues FIRST[:LAST]  queue numbers (default 0); a range balances flows\n"
		"                         across the queues with --queue-cpu-fanout\n"
		"  --fail-open            packets pass when no daemon listens (--queue-bypass)\n"
		"  --fail-closed          packets are dropped when no daemon listens (default)\n"
		"  --hooks LIST           forward (default), input, output, comma separated\n"
		"  --mark BITS            the mark bits of a decided flow (default 0x%x)\n"
		"  -4, -6                 only IPv4 (iptables) or only IPv6 (ip6tables)\n"
		"  --output json          show: {\"ipv4\": STATE, \"ipv6\": STATE}, STATE being\n"
		"                         {\"installed\": bool, \"chain\": bool, \"jumps\":\n"
		"                         [{\"chain\", \"position\", \"rule\"}], \"rules\": [TEXT]}\n"
		"                         (no \"ipv6\" when IPv6 is disabled on the host)\n"
		"\n"
		"Installing twice leaves the rules once; remove leaves no NPSHIM chain and no\n"
		"jump, and succeeds when nothing is installed. Exit status: 0 done; 1 show\n"
		"found nothing installed; 2 bad usage; 3 iptables failed.\n",
		RULES_DEFAULT_MARK);
}

static cJSON *state_json(const struct rules_state *st)
{
	cJSON *o = cJSON_CreateObject(), *jumps = cJSON_CreateArray(), *rules = cJSON_CreateArray();

	cJSON_AddBoolToObject(o, "installed", st->chain && st->n_jumps > 0);
	cJSON_AddBoolToObject(o, "chain", st->chain);
	for (size_t i = 0; i < st->n_jumps; i++) {
		cJSON *j = cJSON_CreateObject();
		const char *name = st->jumps[i] + 3;
		size_t n = strcspn(name, " ");
		char chain[64];

		snprintf(chain, sizeof(chain), "%.*s", (int)(n < 63 ? n : 63), name);
		cJSON_AddStringToObject(j, "chain", chain);
		cJSON_AddNumberToObject(j, "position", st->jump_pos[i]);
		cJSON_AddStringToObject(j, "rule", st->jumps[i]);
		cJSON_AddItemToArray(jumps, j);
	}
	for (size_t i = 0; i < st->n_rules; i++)
		cJSON_AddItemToArray(rules, cJSON_CreateString(st->rules[i]));
	cJSON_AddItemToObject(o, "jumps", jumps);
	cJSON_AddItemToObject(o, "rules", rules);
	return o;
}

static int do_show(unsigned fams, bool json)
{
	static const struct {
		enum rules_family f;
		const char *key, *title;
	} all[] = { { RULES_V4, "ipv4", "IPv4 (iptables)" }, { RULES_V6, "ipv6", "IPv6 (ip6tables)" } };
	cJSON *root = cJSON_CreateObject();
	bool any = false;
	int rc = CMD_OK;

	for (size_t i = 0; i < 2; i++) {
		struct rules_state st;
		char err[512];

		if (!(fams & all[i].f))
			continue;
		if (rules_show(all[i].f, &st, err, sizeof(err)) < 0) {
			log_errx("rules show: %s", err);
			rc = CMD_FAILURE;
			break;
		}
		if (st.chain)
			any = true;
		if (json) {
			cJSON_AddItemToObject(root, all[i].key, state_json(&st));
		} else {
			printf("%s: %s\n", all[i].title,
			       st.chain ? (st.n_jumps ? "installed" : "chain present, no jump to it")
					: "not installed");
			for (size_t j = 0; j < st.n_jumps; j++)
				printf("  jump (position %u): %s\n", st.jump_pos[j], st.jumps[j]);
			for (size_t j = 0; j < st.n_rules; j++)
				printf("  %s\n", st.rules[j]);
		}
		rules_state_clear(&st);
	}
	if (rc == CMD_OK && json) {
		char *s = cJSON_PrintUnformatted(root);

		if (s)
			printf("%s\n", s);
		free(s);
	}
	cJSON_Delete(root);
	if (rc == CMD_OK && !any)
		rc = CMD_NEGATIVE;
	return rc;
}

int cmd_rules(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "fail-open", no_argument, NULL, 'O' },
		{ "fail-closed", no_argument, NULL, 'C' },
		{ "hooks", required_argument, NULL, 'H' },
		{ "mark", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rules_config cfg = { .mark = RULES_DEFAULT_MARK, .hooks = RULES_HOOK_FORWARD };
	unsigned fams = rules_families_available();
	bool json = false, install_opts = false;
	const char *verb;
	char err[1024];
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h46o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (!rules_queues_parse(optarg, &cfg.queue_first, &cfg.queue_last)) {
				log_errx("rules: --queues '%s': expected N or FIRST:LAST (0-65535, FIRST <= LAST)", optarg);
				return CMD_USAGE;
			}
			install_opts = true;
			break;
		case 'O':
		case 'C':
			cfg.fail_open = c == 'O';
			install_opts = true;
			break;
		case 'H':
			if (!rules_hooks_parse(optarg, &cfg.hooks)) {
				log_errx("rules: --hooks '%s': expected a comma-separated list of forward, input, output", optarg);
				return CMD_USAGE;
			}
			install_opts = true;
			break;
		case 'm':
			if (!rules_mark_parse(optarg, &cfg.mark)) {
				log_errx("rules: --mark '%s': expected a non-zero 32-bit number (e.g. 0x4000000)", optarg);
				return CMD_USAGE;
			}
			install_opts = true;
			break;
		case '4':
			fams = RULES_V4;
			break;
		case '6':
			if (!(rules_families_available() & RULES_V6)) {
				log_errx("rules: -6: IPv6 is disabled on this host");
				return CMD_USAGE;
			}
			fams = RULES_V6;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0) {
				json = true;
			} else if (strcmp(optarg, "text") != 0) {
				log_errx("rules: --output '%s': expected text or json", optarg);
				return CMD_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return CMD_OK;
		default:
			return cli_option_error("rules", c, argv);
		}
	}
	if (optind >= argc) {
		log_errx("rules: expected install, remove or show; see 'npshim rules --help'");
		return CMD_USAGE;
	}
	verb = argv[optind++];
	if (optind < argc) {
		log_errx("rules: unexpected argument '%s'", argv[optind]);
		return CMD_USAGE;
	}
	if (strcmp(verb, "install") && install_opts) {
		log_errx("rules %s: --queues, --fail-open/--fail-closed, --hooks and --mark apply to install only", verb);
		return CMD_USAGE;
	}
	if (strcmp(verb, "show") && json) {
		log_errx("rules %s: --output applies to show only", verb);
		return CMD_USAGE;
	}
	if (strcmp(verb, "install") && strcmp(verb, "remove") && strcmp(verb, "show")) {
		log_errx("rules: unknown verb '%s'; expected install, remove or show", verb);
		return CMD_USAGE;
	}
	if (geteuid() != 0)
		log_warnx("rules: not running as root; iptables will likely refuse");
	if (strcmp(verb, "show") == 0)
		return do_show(fams, json);
	if (strcmp(verb, "install") == 0) {
		if (rules_install(&cfg, fams, err, sizeof(err)) < 0) {
			log_errx("rules install: %s", err);
			/* Never leave half a rule set: v4 may be in when v6 failed. */
			if (rules_remove(fams, err, sizeof(err)) < 0)
				log_errx("rules install: cleanup failed too: %s", err);
			return CMD_FAILURE;
		}
		return CMD_OK;
	}
	if (rules_remove(fams, err, sizeof(err)) < 0) {
		log_errx("rules remove: %s", err);
		return CMD_FAILURE;
	}
	return CMD_OK;
}
