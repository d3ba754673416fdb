// The /watch page: <moq-watch> and its controls (@moq/watch), plus the page's
// own glue (page.js). Bundled by build.mjs into relay/web/watch.js.
import "@moq/watch/element";
import "@moq/watch/ui";
import { start } from "./page.js";

start("moq-watch");
