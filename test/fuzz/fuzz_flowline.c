/* SPDX-License-Identifier: Apache-2.0 */
/* test/fuzz/fuzz_flowline.c - libFuzzer target: one simulate flow line. */
#include <stdint.h>
#include <string.h>

#include "cli/flowline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flowline fl;
	struct flowline_buf b = { 0 };
	struct pol_verdict v;
	char err[256];

	if (!flowline_parse((const char *)data, size, &fl, err, sizeof(err))) {
		/* Every failure must come with a message. */
		if (!err[0])
			__builtin_trap();
		return 0;
	}
	/* The echo is the input object minus its closing brace, so the
	 * formatted line must still be one object. */
	memset(&v, 0, sizeof(v));
	v.allowed = size & 1;
	v.reason = POL_REASON_POLICY;
	v.src_kind = POL_EP_EXTERNAL;
	v.dst_kind = POL_EP_EXTERNAL;
	flowline_format_result(&b, &fl, &v);
	if (!b.oom && (b.len < 2 || b.s[0] != '{' || b.s[b.len - 2] != '}' || b.s[b.len - 1] != '\n'))
		__builtin_trap();
	if (!b.oom) {
		struct flowline again;

		/* Feeding an output line back must give the same flow. */
		if (!flowline_parse(b.s, b.len - 1, &again, err, sizeof(err)))
			__builtin_trap();
		if (memcmp(&again.flow, &fl.flow, sizeof(fl.flow)) != 0)
			__builtin_trap();
		flowline_clear(&again);
	}
	flowline_buf_free(&b);
	flowline_clear(&fl);
	return 0;
}
