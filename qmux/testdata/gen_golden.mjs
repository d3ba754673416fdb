// Generates golden.json: QMux frames encoded by @moq/qmux 0.3.3's own
// encoder (the exact peer), which frame_test.go decodes and re-encodes.
//
//   node qmux/testdata/gen_golden.mjs > qmux/testdata/golden.json
//
// Run from the repository root after `npm ci` in e2e/.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const root = join(process.cwd(), "e2e", "node_modules", "@moq", "qmux");
const Frame = await import(pathToFileURL(join(root, "frame.js")).href);
const Stream = await import(pathToFileURL(join(root, "stream.js")).href);
const { VarInt } = await import(pathToFileURL(join(root, "varint.js")).href);

const id = (n) => new Stream.Id(VarInt.from(n));
const hex = (b) => Buffer.from(b).toString("hex");
const frames = {
	stream: { type: "stream", id: id(2n), offset: 1234n, data: new TextEncoder().encode("hello"), fin: false },
	stream_fin: { type: "stream", id: id(7n), offset: 70000n, data: new Uint8Array(0), fin: true },
	reset_stream: { type: "reset_stream", id: id(3n), code: VarInt.from(42n), finalSize: 999n },
	stop_sending: { type: "stop_sending", id: id(6n), code: VarInt.from(7n) },
	connection_close: { type: "connection_close", code: VarInt.from(10n), reason: "protocol" },
	application_close: { type: "application_close", code: VarInt.from(0x11n), reason: "bye now" },
	max_data: { type: "max_data", max: 1048576n },
	max_stream_data: { type: "max_stream_data", id: id(4n), max: 262144n },
	max_streams_bidi: { type: "max_streams_bidi", max: 100n },
	max_streams_uni: { type: "max_streams_uni", max: 1000n },
	data_blocked: { type: "data_blocked", limit: 5n },
	stream_data_blocked: { type: "stream_data_blocked", id: id(8n), limit: 6n },
	streams_blocked_bidi: { type: "streams_blocked_bidi", limit: 9n },
	streams_blocked_uni: { type: "streams_blocked_uni", limit: 10n },
	ping_request: { type: "ping_request", sequence: 3n },
	ping_response: { type: "ping_response", sequence: 3n },
	datagram: { type: "datagram", data: new TextEncoder().encode("dgram") },
	transport_parameters: { type: "transport_parameters", params: { ...Frame.RECOMMENDED_TRANSPORT_PARAMS, maxRecordSize: 65536n, resetStreamAt: true } },
};
const out = {};
for (const [name, f] of Object.entries(frames)) out[name] = hex(Frame.encode(f, "qmux-01"));
process.stdout.write(`${JSON.stringify(out, null, "\t")}\n`);
