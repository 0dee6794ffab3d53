// A minimal MCP Apps host, for the browser tests and the render benchmark (never shipped):
// an MCP client over streamable HTTP to /mcp/ on this page's origin (the test server proxies
// it to proms-mcp), and ext-apps' AppBridge rendering the tool's ui:// resource in a
// sandboxed iframe, as Claude, VS Code or Goose do. The test drives it through window.host.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST_INFO = { name: "proms-mcp test host", version: "0.1.0" };
const CAPABILITIES = { serverTools: {}, openLinks: {}, logging: {} };
// A host that renders MCP Apps says so (`extensions`); on the 2026-07-28 protocol the client
// sends its capabilities with every request, which a stateless server needs to see them.
const CLIENT_OPTIONS = {
  capabilities: {
    extensions: { "io.modelcontextprotocol/ui": { mimeTypes: ["text/html;profile=mcp-app"] } },
  },
  versionNegotiation: { mode: { pin: "2026-07-28" } },
};
let client = null;
let tools = null;
let bridge = null;

async function connected() {
  if (!client) {
    client = new Client(HOST_INFO, CLIENT_OPTIONS);
    await client.connect(new StreamableHTTPClientTransport(new URL("/mcp/", location.href)));
    tools = (await client.listTools()).tools;
  }
  return client;
}

/** The app's HTML: the tool's ui:// resource, read from the server as a host reads it. */
async function appHtml(tool) {
  const uri = tool ? getToolUiResourceUri(tool) : undefined;
  if (!uri) throw new Error(`tool ${tool?.name} links no ui:// resource`);
  const read = await client.readResource({ uri });
  const [content] = read.contents;
  return { uri, html: content.text, mimeType: content.mimeType, csp: content._meta?.ui?.csp };
}

/** The Content Security Policy a host derives from the resource's `_meta.ui.csp` (the
 * domains it may connect to and load from; none declared: nothing at all), put in the
 * document so that any network load the app tried would be refused and logged. */
function withPolicy(html, csp = {}) {
  const sources = (domains) => (domains?.length ? domains.join(" ") : "'none'");
  const resources = csp.resourceDomains?.length ? ` ${csp.resourceDomains.join(" ")}` : "";
  const policy = [
    "default-src 'none'",
    `script-src 'unsafe-inline'${resources}`,
    `style-src 'unsafe-inline'${resources}`,
    `img-src data:${resources}`,
    `font-src data:${resources}`,
    `connect-src ${sources(csp.connectDomains)}`,
  ].join("; ");
  const meta = `<meta http-equiv="Content-Security-Policy" content="${policy}">`;
  return html.replace(/<head>/i, (head) => `${head}${meta}`);
}

async function mount(html, mcp, context) {
  await bridge?.close?.();
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.title = "proms-mcp chart";
  document.getElementById("frames").replaceChildren(iframe);
  bridge = new AppBridge(mcp, HOST_INFO, CAPABILITIES, { hostContext: context });
  if (!mcp) {
    bridge.oncalltool = async () => ({
      isError: true,
      content: [{ type: "text", text: '{"error":{"code":"no_server","message":"no server"}}' }],
    });
  }
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${Math.min(Math.max(height, 120), 1400)}px`;
  };
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = resolve;
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
  await initialized;
  return bridge;
}

function context(theme, tool) {
  document.body.dataset.theme = theme;
  return {
    theme,
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    platform: "web",
    containerDimensions: { width: 840, maxHeight: 1400 },
    ...(tool ? { toolInfo: { tool } } : {}),
  };
}

window.host = {
  /** Call `tool` on the server and show its answer in the app, as a host does: the result
   * and the resource rendered. */
  async run({ tool: name, arguments: args, theme = "light" }) {
    const mcp = await connected();
    const tool = tools.find((t) => t.name === name);
    const app = await appHtml(tool);
    const view = await mount(withPolicy(app.html, app.csp), mcp, context(theme, tool));
    await view.sendToolInput({ arguments: args });
    const result = await mcp.callTool({ name, arguments: args });
    await view.sendToolResult(result);
    return { uri: app.uri, mimeType: app.mimeType, isError: Boolean(result.isError), result };
  },
  /** Show a given result without a server (the render benchmark): the built file. */
  async show({ input, result, theme = "light" }) {
    const html = await (await fetch("/chart.html")).text();
    const view = await mount(withPolicy(html), null, context(theme, null));
    await view.sendToolInput({ arguments: input });
    await view.sendToolResult(result);
  },
  async theme(theme) {
    document.body.dataset.theme = theme;
    await bridge.sendHostContextChange({ theme });
  },
  tools: () => tools,
};
document.body.dataset.host = "ready";
