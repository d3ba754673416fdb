// Glue shared by the relay's /watch and /publish pages (relay/watch.html,
// relay/publish.html): points the element at the relay that served the page
// and fills the name input's suggestions with the live broadcasts.

// relayURL is the URL the element connects to: this page's own origin, so
// that on the relay's plain-HTTP listener (a self-signed development
// certificate) @moq/net fetches /certificate.sha256 from it and pins that
// hash, and on HTTPS it verifies the certificate as usual. The QUIC port
// differs when the relay's HTTP listener has its own address
// (data-quic-port on <body>). A ?jwt= on the page is passed on.
function relayURL() {
	const url = new URL("/", location.href);
	const port = document.body.dataset.quicPort;
	if (port) url.port = port;
	const jwt = new URLSearchParams(location.search).get("jwt");
	if (jwt) url.searchParams.set("jwt", jwt);
	return url;
}

// suggest keeps <datalist id="live"> filled with the relay's live
// broadcasts (GET /announced/), for the name input.
function suggest() {
	const list = document.getElementById("live");
	if (!list) return;
	const jwt = new URLSearchParams(location.search).get("jwt");
	const query = jwt ? `?jwt=${encodeURIComponent(jwt)}` : "";
	const refresh = async () => {
		try {
			const rsp = await fetch(`/announced/${query}`, { cache: "no-store" });
			if (!rsp.ok) return;
			const names = (await rsp.text()).split("\n").filter((n) => n !== "");
			list.replaceChildren(
				...names.map((n) => {
					const o = document.createElement("option");
					o.value = n;
					return o;
				}),
			);
		} catch {
			// the relay is unreachable: keep the last list
		}
	};
	refresh();
	setInterval(refresh, 5000);
}

export function start(tag) {
	const el = document.querySelector(tag);
	if (el) el.setAttribute("url", relayURL().href);
	suggest();
}
