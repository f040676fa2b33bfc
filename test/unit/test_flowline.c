/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_flowline.c - simulate flow-line parsing and result lines. */
#include <string.h>

#include "cli/flowline.h"
#include "test.h"

static bool parse(const char *line, struct flowline *fl, char *err, size_t errlen)
{
	return flowline_parse(line, strlen(line), fl, err, errlen);
}

static void expect_error(const char *line, const char *want)
{
	struct flowline fl;
	char err[512] = "";
	bool ok = parse(line, &fl, err, sizeof(err));

	T_ASSERT(!ok && strstr(err, want) != NULL, "%s: want '%s', got '%s'", line, want, err);
	if (ok)
		flowline_clear(&fl);
}

static void test_good(void)
{
	struct flowline fl;
	struct pol_ip ip;
	char err[512];

	T_ASSERT(parse("{\"src\": \"10.42.1.1\", \"dst\": \"10.42.2.2\", \"protocol\": \"UDP\", \"port\": 53}",
		       &fl, err, sizeof(err)), "%s", err);
	pol_ip_parse("10.42.1.1", &ip);
	T_ASSERT(memcmp(&fl.flow.src, &ip, sizeof(ip)) == 0, "src");
	T_ASSERT(fl.flow.proto == POL_PROTO_UDP && fl.flow.port == 53 && fl.has_port, "udp 53");
	T_ASSERT(strcmp(fl.echo, "{\"src\": \"10.42.1.1\", \"dst\": \"10.42.2.2\", \"protocol\": \"UDP\", \"port\": 53") == 0,
		 "echo '%s'", fl.echo);
	flowline_clear(&fl);

	T_ASSERT(parse("  {\"src\":\"fd00::1\",\"dst\":\"fd00::2\",\"port\":443}  \r", &fl, err, sizeof(err)), "%s", err);
	T_ASSERT(fl.flow.proto == POL_PROTO_TCP && fl.flow.port == 443, "TCP is the default");
	T_ASSERT(strcmp(fl.echo, "{\"src\":\"fd00::1\",\"dst\":\"fd00::2\",\"port\":443") == 0, "echo '%s'", fl.echo);
	flowline_clear(&fl);

	T_ASSERT(parse("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": \"ICMP\"}", &fl, err, sizeof(err)),
		 "%s", err);
	T_ASSERT(fl.flow.proto == POL_PROTO_ICMP && !fl.has_port && fl.flow.port == 0, "icmp");
	flowline_clear(&fl);

	T_ASSERT(parse("{\"src\": \"::1\", \"dst\": \"::2\", \"protocol\": \"ICMPv6\", \"port\": null}", &fl, err, sizeof(err)),
		 "%s", err);
	T_ASSERT(fl.flow.proto == POL_PROTO_ICMPV6, "icmpv6 with port null");
	flowline_clear(&fl);

	/* Output members are replaced, so an output line can be fed back. */
	T_ASSERT(parse("{\"src\": \"10.0.0.1\", \"verdict\": \"deny\", \"dst\": \"10.0.0.2\", \"port\": 80, \"reason\": {\"by\": \"x\"}}",
		       &fl, err, sizeof(err)), "%s", err);
	T_ASSERT(strstr(fl.echo, "verdict") == NULL && strstr(fl.echo, "reason") == NULL, "echo '%s'", fl.echo);
	T_ASSERT(strstr(fl.echo, "\"port\":80") != NULL, "echo '%s'", fl.echo);
	flowline_clear(&fl);
}

static void test_errors(void)
{
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 70000}", "\"port\": 70000 is out of range 1-65535");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": -3}", "\"port\": -3 is out of range 1-65535");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 1e3000}", "is not an integer");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 8.5}", "\"port\": 8.5 is not an integer");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": true}", "\"port\" must be a number, got a boolean");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\"}", "missing \"port\" (required for protocol TCP)");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": \"SCTP\"}", "required for protocol SCTP");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": \"ICMP\", \"port\": 1}", "not allowed with protocol ICMP");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": \"ICMPv6\"}", "use \"ICMP\"");
	expect_error("{\"src\": \"::1\", \"dst\": \"::2\", \"protocol\": \"ICMP\"}", "use \"ICMPv6\"");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": \"Tcp\", \"port\": 1}", "\"protocol\": \"Tcp\" is not one of");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"protocol\": 6, \"port\": 1}", "\"protocol\" must be a string, got a number");
	expect_error("{\"dst\": \"10.0.0.2\", \"port\": 1}", "missing \"src\"");
	expect_error("{\"src\": \"10.0.0.1\", \"port\": 1}", "missing \"dst\"");
	expect_error("{\"src\": [], \"dst\": \"10.0.0.2\", \"port\": 1}", "\"src\" must be an IP address string, got an array");
	expect_error("{\"src\": \"pod-a\", \"dst\": \"10.0.0.2\", \"port\": 1}", "\"src\": \"pod-a\" is not an IPv4 or IPv6 address");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"::2\", \"port\": 1}", "\"src\" is an IPv4 address but \"dst\" is an IPv6 address");
	expect_error("{\"src\": \"10.0.0.1\", \"src\": \"10.0.0.3\", \"dst\": \"10.0.0.2\", \"port\": 1}", "member \"src\" appears twice");
	expect_error("\"10.0.0.1\"", "expected a JSON object");
	expect_error("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 1}{}", "unexpected text after the object at column 50");
	expect_error("{\"src\": \"10.0.0.1\" \"dst\": \"10.0.0.2\"}", "malformed JSON at column");
	expect_error("{\"src\": \"10.0.0.1\",\x02\"dst\": \"10.0.0.2\", \"port\": 1}", "column 20: control character 0x02");
	expect_error("", "malformed JSON");
}

static void test_format(void)
{
	struct flowline fl;
	struct flowline_buf b = { 0 };
	struct pol_verdict v;
	struct pol_pod pod = { .ns = (char *)"x", .name = (char *)"a\"b" };
	struct pol_policy pol = { .ns = (char *)"x", .name = (char *)"deny" };
	const struct pol_policy *iso[] = { &pol };
	char err[256];

	T_ASSERT(parse("{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 80, \"id\": 7}", &fl, err, sizeof(err)),
		 "%s", err);
	memset(&v, 0, sizeof(v));
	v.reason = POL_REASON_POLICY;
	v.src_kind = POL_EP_EXTERNAL;
	v.dst_kind = POL_EP_POD;
	v.dst_pod = &pod;
	v.ingress.state = POL_DIR_DENIED;
	v.ingress.isolating = iso;
	v.ingress.n_isolating = 1;
	flowline_format_result(&b, &fl, &v);
	T_ASSERT(!b.oom, "oom");
	T_ASSERT(strcmp(b.s, "{\"src\": \"10.0.0.1\", \"dst\": \"10.0.0.2\", \"port\": 80, \"id\": 7, \"verdict\": \"deny\", "
			 "\"src_pod\": null, \"dst_pod\": \"x/a\\\"b\", \"reason\": {\"by\": \"policy\", "
			 "\"text\": \"source not a pod; ingress denied (isolated by x/deny; no rule allows it)\", "
			 "\"egress\": {\"state\": \"not a pod\"}, \"ingress\": {\"state\": \"denied\", \"isolated_by\": [\"x/deny\"]}}}\n") == 0,
		 "got %s", b.s);

	flowline_buf_reset(&b);
	v.allowed = true;
	v.reason = POL_REASON_SELF;
	flowline_format_result(&b, &fl, &v);
	T_ASSERT(strstr(b.s, "\"verdict\": \"allow\"") && strstr(b.s, "\"reason\": {\"by\": \"self\", \"text\": \"a pod may always reach itself\"}}\n"),
		 "got %s", b.s);
	flowline_buf_free(&b);
	flowline_clear(&fl);

	T_ASSERT(flowline_is_blank(" \t\r", 3) && !flowline_is_blank(" x", 2), "blank");
}

int main(void)
{
	test_good();
	test_errors();
	test_format();
	return T_REPORT();
}
