// Builds the MCP App into ONE self-contained HTML file (inline JS and CSS, no network
// loads), the file the Python package serves as ui://proms-mcp/chart.html; and, for the
// browser tests and the render benchmark only, a host page (never shipped).
//
//   node build.mjs            # both
//   node build.mjs --app      # the app only (the Dockerfile's build stage)
import { build } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
export const APP_OUTPUT = join(here, "..", "mcp_server", "tools", "viewer", "chart.html");
const HOST_OUTPUT = join(here, "dist", "host");

// The SDK packages declare no `sideEffects`, so a bundler keeps every module they import
// (the MCP client's OAuth, JSON-schema validators, zod's 40 locales) though the app uses
// only the protocol and its message schemas: declared side-effect free here, unused modules
// drop out (tests/viewer drive every path of the app, so a module wrongly dropped fails them).
const shaken = {
  name: "side-effect-free-sdk",
  setup(builder) {
    const filter = /^(zod(\/.*)?|@modelcontextprotocol\/(client|core)(\/.*)?|\..*)$/;
    builder.onResolve({ filter }, async (args) => {
      if (args.pluginData?.shaken) return undefined;
      const inside = /node_modules[\\/](zod|@modelcontextprotocol[\\/](client|core))[\\/]/;
      if (!args.path.startsWith(".") ? false : !inside.test(args.importer)) return undefined;
      const resolved = await builder.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { shaken: true },
      });
      if (resolved.errors.length) return { errors: resolved.errors };
      return { ...resolved, sideEffects: false };
    });
  },
};

// Parts of zod's namespace object (`z`) the SDK imports whole but the app never calls: its
// error messages in 40 languages (English stays: zod's default) and JSON Schema -> zod.
const STUBS = {
  "locales/index.js": "export {};",
  "classic/from-json-schema.js":
    'export function fromJSONSchema() { throw new Error("not in this bundle"); }',
};
const stubbed = {
  name: "stubbed-zod-extras",
  setup(builder) {
    builder.onLoad({ filter: /node_modules[\\/]zod[\\/]v4[\\/]/ }, (args) => {
      const path = args.path.replaceAll("\\", "/");
      const stub = Object.keys(STUBS).find((tail) => path.endsWith(`/v4/${tail}`));
      return stub ? { contents: STUBS[stub], loader: "js" } : undefined;
    });
  },
};

async function bundle(entry, plugins = []) {
  const result = await build({
    plugins,
    entryPoints: [join(here, entry)],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    legalComments: "none",
    write: false,
    metafile: true,
  });
  if (process.argv.includes("--why")) {
    const inputs = Object.values(result.metafile.outputs)[0].inputs;
    const largest = Object.entries(inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
    for (const [path, { bytesInOutput }] of largest.slice(0, 25)) console.log(bytesInOutput, path);
  }
  return result.outputFiles[0].text;
}

// Inline <script> and <style> text must not close their element early.
const inline = (text, tag) => text.replaceAll(`</${tag}`, `<\\/${tag}`);

async function app() {
  const js = await bundle("src/app/main.js", [shaken, stubbed]);
  const css = [
    await readFile(join(here, "node_modules", "uplot", "dist", "uPlot.min.css"), "utf8"),
    await readFile(join(here, "src", "app", "chart.css"), "utf8"),
  ].join("\n");
  const template = await readFile(join(here, "src", "app", "chart.html"), "utf8");
  const html = template
    .replace("/*CSS*/", () => inline(css, "style"))
    .replace("/*JS*/", () => inline(js, "script"));
  await mkdir(dirname(APP_OUTPUT), { recursive: true });
  await writeFile(APP_OUTPUT, html);
  const gz = gzipSync(Buffer.from(html), { level: 9 }).length;
  console.log(`chart.html: ${html.length} bytes, ${gz} gzipped -> ${APP_OUTPUT}`);
}

async function host() {
  await mkdir(HOST_OUTPUT, { recursive: true });
  await writeFile(join(HOST_OUTPUT, "host.js"), await bundle("src/host/host.js"));
  await writeFile(
    join(HOST_OUTPUT, "index.html"),
    await readFile(join(here, "src", "host", "index.html"), "utf8"),
  );
  console.log(`test host -> ${HOST_OUTPUT}`);
}

await app();
if (!process.argv.includes("--app")) await host();
