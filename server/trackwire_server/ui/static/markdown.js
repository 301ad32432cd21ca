// A small Markdown renderer for run notes. Safe by construction: the text is
// HTML-escaped first, and only the markup below is added (links: http(s) only).
"use strict";
(function () {
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function inline(text) {
    // text is already escaped
    const codes = [];
    text = text.replace(/`([^`]+)`/g, (_, c) => { codes.push(c); return "\u0000" + (codes.length - 1) + "\u0000"; });
    text = text.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    text = text.replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>");
    text = text.replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
    return text.replace(/\u0000(\d+)\u0000/g, (_, i) => "<code>" + codes[+i] + "</code>");
  }
  function render(source) {
    const lines = escapeHtml(source || "").split(/\r?\n/);
    const out = [];
    let para = [], list = null, code = null;
    const flushPara = () => { if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; } };
    const flushList = () => { if (list) { out.push("<" + list.tag + ">" + list.items.map((i) => "<li>" + inline(i) + "</li>").join("") + "</" + list.tag + ">"); list = null; } };
    for (const line of lines) {
      if (code !== null) {
        if (/^```/.test(line)) { out.push("<pre><code>" + code.join("\n") + "</code></pre>"); code = null; }
        else code.push(line);
        continue;
      }
      let m;
      if (/^```/.test(line)) { flushPara(); flushList(); code = []; }
      else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) { flushPara(); flushList(); const n = Math.min(m[1].length + 2, 6); out.push("<h" + n + ">" + inline(m[2]) + "</h" + n + ">"); }
      else if ((m = /^\s*[-*+]\s+(.*)$/.exec(line))) { flushPara(); if (!list || list.tag !== "ul") { flushList(); list = { tag: "ul", items: [] }; } list.items.push(m[1]); }
      else if ((m = /^\s*\d+[.)]\s+(.*)$/.exec(line))) { flushPara(); if (!list || list.tag !== "ol") { flushList(); list = { tag: "ol", items: [] }; } list.items.push(m[1]); }
      else if (/^\s*$/.test(line)) { flushPara(); flushList(); }
      else { flushList(); para.push(line); }
    }
    if (code !== null) out.push("<pre><code>" + code.join("\n") + "</code></pre>");
    flushPara(); flushList();
    return out.join("\n");
  }
  window.TrackwireMarkdown = { render, escapeHtml };
})();
