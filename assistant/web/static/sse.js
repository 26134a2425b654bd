// Server-Sent Events read with fetch, for the panel and the supervisors' page: the token travels in the
// Authorization header, never in a URL (EventSource cannot send headers), and the same works inside
// Chatwoot's iframe, where browsers refuse a page's cookies as third-party ones.
(function () {
  "use strict";

  // The event-stream format: lines "field: value", an empty line ends an event, ":" starts a comment.
  // Calls onEvent({type, data: [lines], id}) per event until the body ends or isCurrent() turns false.
  async function readEventStream(body, onEvent, isCurrent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let ev = { type: "message", data: [], id: null };
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done || !isCurrent()) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        if (end < 0 || (buffer[end] === "\r" && end === buffer.length - 1)) break; // wait: "\r" may precede "\n"
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
        if (line === "") {
          onEvent(ev);
          ev = { type: "message", data: [], id: null };
          continue;
        }
        if (line[0] === ":") continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value[0] === " ") value = value.slice(1);
        if (field === "event") ev.type = value;
        else if (field === "data") ev.data.push(value);
        else if (field === "id") ev.id = value;
      }
    }
  }

  window.readEventStream = readEventStream;
})();
