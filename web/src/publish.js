// The /publish page: <moq-publish> and its controls (@moq/publish), plus the
// page's own glue (page.js). Bundled by build.mjs into relay/web/publish.js.
import "@moq/publish/element";
import "@moq/publish/ui";
import { start } from "./page.js";

start("moq-publish");
