/* SPDX-License-Identifier: Apache-2.0 */
/* test/unit/test_metrics.c - per-thread counters, exposition text, the HTTP endpoints. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/metrics.h"
#include "test.h"

static const char *const kinds[] = { "allow", "deny", "would_deny" };
static const char *const modes[] = { "enforce", "audit" };

static bool has_line(const char *text, const char *line)
{
	size_t l = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[l] == '\n' || p[l] == 0))
			return true;
	return false;
}

static void test_buckets(void)
{
	T_ASSERT(metrics_lat_bucket(0) == 0, "0 ns");
	T_ASSERT(metrics_lat_bucket(5000) == 0, "le is inclusive");
	T_ASSERT(metrics_lat_bucket(5001) == 1, "just above");
	T_ASSERT(metrics_lat_bucket(100000000) == METRICS_LAT_BUCKETS - 1, "last bound");
	T_ASSERT(metrics_lat_bucket(100000001) == METRICS_LAT_BUCKETS, "+Inf");
}

static void test_render(void)
{
	struct metrics *m = metrics_new(2, kinds, 3, modes, 2);
	struct metrics_q *q0 = metrics_queue(m, 0), *q1 = metrics_queue(m, 1);
	cJSON *st = cJSON_Parse(
		"{\"mode\":\"en\\\"f\\\\o\\nrce\",\"fail_open\":false,\"uptime_s\":5,"
		"\"model\":{\"generation\":3,\"age_s\":1.5,\"pods\":10,\"policies\":2,\"namespaces\":1},"
		"\"reload\":{\"count\":2,\"failures\":1},\"rules\":{\"managed\":true,\"installed\":true},"
		"\"queues\":[{\"num\":4,\"received\":7,\"accepted\":6,\"dropped\":1,\"parse_errors\":0,"
		"\"kernel_known\":true,\"kernel_queue_dropped\":2,\"kernel_user_dropped\":3,"
		"\"kernel_queue_total\":0}],"
		"\"records\":{\"sink\":\"store\",\"submitted\":9,\"records_written\":8,\"dropped_full\":1,"
		"\"dropped_store\":0,\"db_ok\":true},\"cluster\":{\"synced\":true,\"watches\":[{\"resource\":\"pods\",\"events\":7,\"relists\":1,\"errors\":0}]}}");
	char *text;
	size_t which = 99;

	T_ASSERT(m && q0 && q1 && !metrics_queue(m, 2), "blocks");
	metrics_q_begin(q0);
	metrics_q_verdict(q0, 0, 0);
	metrics_q_verdict(q0, 2, 1);
	metrics_q_verdict(q0, 9, 0); /* out of range: ignored */
	T_ASSERT(metrics_longest_batch_ns(m, &which) > 0 && which == 0, "q0 is inside a batch");
	metrics_q_end(q0);
	T_ASSERT(metrics_longest_batch_ns(m, NULL) == 0, "no batch open");
	metrics_q_begin(q1);
	metrics_q_verdict(q1, 1, 0);
	metrics_q_end(q1);
	metrics_q_begin(q1);
	metrics_q_end(q1); /* an empty batch counts no latency */
	metrics_model_rebuilt(m, 0.25, true);

	text = metrics_render(m, st, true, false);
	T_ASSERT(text != NULL, "render");
	if (!text)
		goto out;
	T_ASSERT(has_line(text, "npshim_verdicts_total{kind=\"allow\",mode=\"enforce\"} 1"), "allow");
	T_ASSERT(has_line(text, "npshim_verdicts_total{kind=\"deny\",mode=\"enforce\"} 1"), "deny");
	T_ASSERT(has_line(text, "npshim_verdicts_total{kind=\"would_deny\",mode=\"audit\"} 1"), "wd");
	T_ASSERT(has_line(text, "npshim_verdicts_total{kind=\"allow\",mode=\"audit\"} 0"), "zeros shown");
	T_ASSERT(has_line(text, "npshim_verdict_latency_seconds_bucket{le=\"+Inf\"} 3"), "+Inf");
	T_ASSERT(has_line(text, "npshim_verdict_latency_seconds_count 3"), "count");
	T_ASSERT(strstr(text, "# TYPE npshim_verdict_latency_seconds histogram\n"), "histogram type");
	T_ASSERT(strstr(text, "npshim_verdict_latency_seconds_bucket{le=\"5e-06\"}"), "first bound");
	T_ASSERT(strstr(text, "npshim_verdict_latency_seconds_bucket{le=\"0.1\"}"), "last bound");
	T_ASSERT(has_line(text, "npshim_mode_info{mode=\"en\\\"f\\\\o\\nrce\",fail_open=\"false\"} 1"),
		 "label escaping");
	T_ASSERT(has_line(text, "npshim_model_generation 3"), "generation");
	T_ASSERT(has_line(text, "npshim_model_age_seconds 1.5"), "age");
	T_ASSERT(has_line(text, "npshim_model_rebuild_duration_seconds 0.25"), "rebuild");
	T_ASSERT(has_line(text, "npshim_model_objects{kind=\"pods\"} 10"), "pods");
	T_ASSERT(has_line(text, "npshim_queue_packets_total{queue=\"4\"} 7"), "packets");
	T_ASSERT(has_line(text, "npshim_queue_verdicts_total{queue=\"4\",verdict=\"drop\"} 1"), "drops");
	T_ASSERT(has_line(text, "npshim_queue_kernel_drops_total{queue=\"4\",reason=\"queue_full\"} 2"),
		 "kernel drops");
	T_ASSERT(has_line(text, "npshim_queue_kernel_drops_total{queue=\"4\",reason=\"socket_full\"} 3"),
		 "user drops");
	T_ASSERT(has_line(text, "npshim_store_records_written_total 8"), "written");
	T_ASSERT(has_line(text, "npshim_store_records_dropped_total{reason=\"ring_full\"} 1"), "dropped");
	T_ASSERT(has_line(text, "npshim_reload_failures_total 1"), "reload failures");
	T_ASSERT(has_line(text, "npshim_watch_synced 1"), "watch");
	T_ASSERT(has_line(text, "npshim_watch_events_total{resource=\"pods\"} 7"), "watch events per resource");
	T_ASSERT(has_line(text, "npshim_ready 0") && has_line(text, "npshim_alive 1"), "health");
	/* Every sample line's family has HELP and TYPE before it. */
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n'), name[128];
		size_t l = strcspn(line, "{ ");

		T_ASSERT(nl != NULL, "text ends with a newline");
		if (!nl)
			break;
		if (line[0] != '#' && l < sizeof(name) - 16) {
			char want[160];

			memcpy(name, line, l);
			name[l] = 0;
			for (const char *suf = "_bucket"; suf; suf = NULL) {
				size_t sl = strlen(suf);

				if (l > sl && strcmp(name + l - sl, suf) == 0)
					name[l - sl] = 0;
			}
			if (strstr(name, "latency_seconds_"))
				strcpy(name, "npshim_verdict_latency_seconds");
			snprintf(want, sizeof(want), "# TYPE %s ", name);
			T_ASSERT(strstr(text, want) && strstr(text, want) < line, "TYPE before %.*s",
				 (int)l, line);
		}
		line = nl + 1;
	}
	free(text);
	text = metrics_render(m, NULL, true, true);
	T_ASSERT(text && strstr(text, "npshim_verdicts_total") && !strstr(text, "npshim_queue_"),
		 "no status: only own counters");
	free(text);
out:
	cJSON_Delete(st);
	metrics_free(m);
}

static void test_addr(void)
{
	struct sockaddr_storage ss;
	unsigned sl;
	char why[128];

	T_ASSERT(metrics_addr_parse("127.0.0.1:9632", &ss, &sl, why, sizeof(why)) && ss.ss_family == AF_INET,
		 "v4");
	T_ASSERT(metrics_addr_parse("[::1]:80", &ss, &sl, why, sizeof(why)) && ss.ss_family == AF_INET6, "v6");
	T_ASSERT(!metrics_addr_parse("::1:80", &ss, &sl, why, sizeof(why)), "v6 without brackets");
	T_ASSERT(!metrics_addr_parse("127.0.0.1", &ss, &sl, why, sizeof(why)), "no port");
	T_ASSERT(!metrics_addr_parse("127.0.0.1:0", &ss, &sl, why, sizeof(why)), "port 0");
	T_ASSERT(!metrics_addr_parse("127.0.0.1:65536", &ss, &sl, why, sizeof(why)), "port too big");
	T_ASSERT(!metrics_addr_parse("localhost:80", &ss, &sl, why, sizeof(why)), "names refused");
	T_ASSERT(!metrics_addr_parse(":80", &ss, &sl, why, sizeof(why)), "empty address");
}

static cJSON *fake_status(void *ctx)
{
	return cJSON_Parse("{\"model\":{\"generation\":1}}");
}

static bool fake_alive(void *ctx, char *why, size_t len)
{
	return true;
}

static bool fake_ready(void *ctx, char *why, size_t len)
{
	snprintf(why, len, "queue 3 is not bound");
	return false;
}

static int http_get(unsigned port, const char *req, char *out, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t off = 0;
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return -1;
	}
	while (off + 1 < len && (n = read(fd, out + off, len - off - 1)) > 0)
		off += (size_t)n;
	out[off] = 0;
	close(fd);
	return 0;
}

static void test_http(void)
{
	static const struct metrics_ops ops = { fake_status, fake_alive, fake_ready };
	struct metrics *m = metrics_new(1, kinds, 3, modes, 2);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char addr[64], err[256], resp[65536];
	unsigned port;

	/* A free port: let the kernel pick one, then hand it over. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	port = ntohs(a.sin_port);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	T_ASSERT(metrics_serve(m, addr, &ops, NULL, err, sizeof(err)) == 0, "serve: %s", err);
	T_ASSERT(http_get(port, "GET /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 0 &&
			 strstr(resp, " 200 ") && strstr(resp, "text/plain; version=0.0.4") &&
			 strstr(resp, "\nnpshim_model_generation 1\n"),
		 "/metrics: %.200s", resp);
	T_ASSERT(http_get(port, "GET /healthz HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 0 &&
			 strstr(resp, " 200 ") && strstr(resp, "\r\n\r\nok\n"),
		 "/healthz: %.200s", resp);
	T_ASSERT(http_get(port, "GET /readyz HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 0 &&
			 strstr(resp, " 503 ") && strstr(resp, "not ready: queue 3 is not bound"),
		 "/readyz: %.200s", resp);
	T_ASSERT(http_get(port, "DELETE /metrics HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 0 &&
			 strstr(resp, " 405 ") && strstr(resp, "Allow: GET, HEAD"),
		 "DELETE: %.200s", resp);
	T_ASSERT(http_get(port, "GET /x HTTP/1.0\r\n\r\n", resp, sizeof(resp)) == 0 && strstr(resp, " 404 "),
		 "404: %.200s", resp);
	{
		struct metrics *m2 = metrics_new(1, kinds, 3, modes, 2);

		T_ASSERT(metrics_serve(m2, addr, &ops, NULL, err, sizeof(err)) < 0 &&
				 strstr(err, "cannot listen on"),
			 "second server on the same port: %s", err);
		metrics_free(m2);
	}
	metrics_free(m);
}

int main(void)
{
	test_buckets();
	test_render();
	test_addr();
	test_http();
	return T_REPORT();
}
