// GenAI messages of a span as a conversation. Reads the OTel GenAI attributes
// (gen_ai.system_instructions, gen_ai.input.messages, gen_ai.output.messages: JSON text or
// structured values), OpenInference's flattened llm.input_messages.N.message.* keys, and
// falls back to input.value / output.value when a span has no messages.
import { h } from "./util.js";

const GENAI_KEYS = ["gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"];

function parseMaybeJSON(value) {
  if (typeof value !== "string") return value;
  const trimmed = value.trim();
  if (!trimmed.startsWith("[") && !trimmed.startsWith("{")) return value;
  try { return JSON.parse(trimmed); } catch { return value; }
}

/** One part of a message in the GenAI shape, from whatever form it came in. */
function normalizePart(part) {
  if (typeof part === "string") return { type: "text", content: part };
  if (!part || typeof part !== "object") return { type: "text", content: String(part) };
  const type = part.type || (part.name && "arguments" in part ? "tool_call" : "text");
  if (type === "text" || type === "reasoning" || type === "thinking") return { type, content: part.content ?? part.text ?? "" };
  if (type === "tool_call" || type === "function_call") {
    return { type: "tool_call", id: part.id, name: part.name ?? part.function?.name, arguments: parseMaybeJSON(part.arguments ?? part.function?.arguments) };
  }
  if (type === "tool_call_response" || type === "tool_result") {
    return { type: "tool_call_response", id: part.id, response: parseMaybeJSON(part.response ?? part.result ?? part.content) };
  }
  return { type, content: part.content ?? part };
}

function normalizeMessage(message, fallbackRole) {
  if (typeof message === "string") return { role: fallbackRole, parts: [{ type: "text", content: message }] };
  const parts = [];
  if (Array.isArray(message.parts)) parts.push(...message.parts.map(normalizePart));
  else if (Array.isArray(message.content)) parts.push(...message.content.map(normalizePart));
  else if (message.content !== undefined && message.content !== null && message.content !== "") parts.push({ type: "text", content: String(message.content) });
  for (const call of message.tool_calls || []) parts.push(normalizePart({ type: "tool_call", ...call }));
  if (message.tool_call_id && parts.length && parts.every((p) => p.type === "text")) {
    return { role: message.role || "tool", parts: [{ type: "tool_call_response", id: message.tool_call_id, response: parts.map((p) => p.content).join("\n") }] };
  }
  return { role: message.role || fallbackRole, parts, finish_reason: message.finish_reason };
}

function genAIMessages(attributes) {
  const messages = [];
  const system = parseMaybeJSON(attributes["gen_ai.system_instructions"]);
  if (system !== undefined) {
    const parts = Array.isArray(system) ? system.map(normalizePart) : [{ type: "text", content: String(system) }];
    messages.push({ role: "system", parts });
  }
  for (const [key, role] of [["gen_ai.input.messages", "user"], ["gen_ai.output.messages", "assistant"]]) {
    const value = parseMaybeJSON(attributes[key]);
    if (value === undefined) continue;
    const list = Array.isArray(value) ? value : [value];
    for (const message of list) messages.push({ ...normalizeMessage(message, role), output: role === "assistant" });
  }
  return messages;
}

/** OpenInference: llm.input_messages.0.message.role = "user", …content, …tool_calls.0.tool_call.function.name */
function openInferenceMessages(attributes) {
  const messages = [];
  for (const [prefix, output] of [["llm.input_messages.", false], ["llm.output_messages.", true]]) {
    const byIndex = new Map();
    for (const [key, value] of Object.entries(attributes)) {
      if (!key.startsWith(prefix)) continue;
      const match = /^(\d+)\.message\.(.+)$/.exec(key.slice(prefix.length));
      if (!match) continue;
      const index = Number(match[1]);
      if (!byIndex.has(index)) byIndex.set(index, { fields: {}, calls: new Map(), contents: new Map() });
      const entry = byIndex.get(index);
      const rest = match[2];
      const call = /^tool_calls\.(\d+)\.tool_call\.(.+)$/.exec(rest);
      const content = /^contents\.(\d+)\.message_content\.(.+)$/.exec(rest);
      if (call) {
        const c = entry.calls.get(Number(call[1])) || {};
        c[call[2]] = value;
        entry.calls.set(Number(call[1]), c);
      } else if (content) {
        const c = entry.contents.get(Number(content[1])) || {};
        c[content[2]] = value;
        entry.contents.set(Number(content[1]), c);
      } else {
        entry.fields[rest] = value;
      }
    }
    for (const index of [...byIndex.keys()].sort((a, b) => a - b)) {
      const { fields, calls, contents } = byIndex.get(index);
      const parts = [];
      const role = fields.role || (output ? "assistant" : "user");
      if (fields.content !== undefined && fields.content !== "") {
        parts.push(role === "tool" ? { type: "tool_call_response", id: fields.tool_call_id, response: parseMaybeJSON(fields.content) } : { type: "text", content: String(fields.content) });
      }
      for (const i of [...contents.keys()].sort((a, b) => a - b)) {
        const c = contents.get(i);
        if (c.text !== undefined) parts.push({ type: "text", content: String(c.text) });
      }
      for (const i of [...calls.keys()].sort((a, b) => a - b)) {
        const c = calls.get(i);
        parts.push({ type: "tool_call", id: c.id, name: c["function.name"], arguments: parseMaybeJSON(c["function.arguments"]) });
      }
      messages.push({ role, parts, output, finish_reason: fields.finish_reason });
    }
  }
  return messages;
}

/** The conversation of a span and the raw attributes it came from; null when it has none. */
export function extractConversation(attributes) {
  let messages = genAIMessages(attributes);
  let sources = GENAI_KEYS.filter((k) => k in attributes);
  if (!messages.length) {
    messages = openInferenceMessages(attributes);
    sources = Object.keys(attributes).filter((k) => k.startsWith("llm.input_messages.") || k.startsWith("llm.output_messages."));
  }
  if (!messages.length) {
    for (const [key, role] of [["input.value", "input"], ["output.value", "output"]]) {
      if (attributes[key] === undefined) continue;
      messages.push({ role, output: role === "output", parts: [{ type: "text", content: attributes[key] }] });
      sources.push(key);
    }
  }
  if (!messages.length) return null;
  const raw = {};
  for (const key of sources) raw[key] = parseMaybeJSON(attributes[key]);
  return { messages, raw };
}

function pretty(value) {
  if (typeof value === "string") {
    const parsed = parseMaybeJSON(value);
    return typeof parsed === "string" ? parsed : JSON.stringify(parsed, null, 2);
  }
  return JSON.stringify(value, null, 2);
}

function renderPart(part) {
  switch (part.type) {
    case "text":
      return h("div", { class: "msg-text" }, pretty(part.content));
    case "reasoning":
    case "thinking":
      return h("div", { class: "msg-text reasoning" }, h("span", { class: "part-label" }, "reasoning"), pretty(part.content));
    case "tool_call":
      return h("div", { class: "tool-call", "data-testid": "tool-call" },
        h("div", { class: "part-label" }, "tool call ", h("b", { class: "mono" }, part.name || "?"), part.id ? h("span", { class: "mono muted" }, " " + part.id) : null),
        h("pre", { class: "code" }, pretty(part.arguments ?? {})));
    case "tool_call_response":
      return h("div", { class: "tool-result" },
        h("div", { class: "part-label" }, "tool result", part.id ? h("span", { class: "mono muted" }, " " + part.id) : null),
        h("pre", { class: "code" }, pretty(part.response ?? "")));
    default:
      return h("div", { class: "msg-text" }, h("span", { class: "part-label" }, part.type), pretty(part.content));
  }
}

export function renderConversation(conversation) {
  const messages = h("div", { class: "conversation", "data-testid": "conversation" },
    conversation.messages.map((m) => h("div", { class: `msg role-${String(m.role).replace(/[^a-z_]/gi, "")}` + (m.output ? " output" : ""), "data-role": m.role },
      h("div", { class: "msg-head" }, h("span", { class: "role" }, m.role),
        m.finish_reason ? h("span", { class: "tag" }, "finish: " + m.finish_reason) : null),
      m.parts.map(renderPart))));
  const raw = h("pre", { class: "code raw", hidden: true }, JSON.stringify(conversation.raw, null, 2));
  const toggle = h("button", { class: "link", "data-testid": "raw-toggle", onclick: () => {
    raw.hidden = !raw.hidden;
    messages.hidden = !raw.hidden;
    toggle.textContent = raw.hidden ? "Raw JSON" : "Conversation";
  } }, "Raw JSON");
  return { toggle, body: h("div", {}, messages, raw) };
}
