// Copies pinned front-end libraries from node_modules into static/vendor (committed), so the
// service itself never needs Node. Run with `make vendor` after changing package.json.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";

const version = (pkg) => JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, "utf8")).version;

mkdirSync("static/vendor", { recursive: true });
copyFileSync("node_modules/htmx.org/dist/htmx.min.js", "static/vendor/htmx.min.js");
mkdirSync("tests/browser/vendor", { recursive: true });
copyFileSync("node_modules/axe-core/axe.min.js", "tests/browser/vendor/axe.min.js");
console.log(`vendored htmx ${version("htmx.org")}, axe-core ${version("axe-core")}`);
