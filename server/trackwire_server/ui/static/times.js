// Times as people read them: "3 min ago", "2 h ago", "yesterday", with the exact time on hover.
"use strict";
(function () {
  const MINUTE = 60 * 1000, HOUR = 60 * MINUTE, DAY = 24 * HOUR;

  // How long ago `ms` was, seen at `now` (both milliseconds since the epoch).
  function relative(ms, now) {
    const ago = (now === undefined ? Date.now() : now) - ms;
    if (ago < MINUTE) return ago > -MINUTE ? "just now" : "in the future";
    if (ago < HOUR) return Math.floor(ago / MINUTE) + " min ago";
    if (ago < DAY) return Math.floor(ago / HOUR) + " h ago";
    const days = Math.floor(ago / DAY);
    if (days === 1) return "yesterday";
    if (days < 30) return days + " days ago";
    const months = Math.max(1, Math.floor(days / 30.44));
    if (months < 12) return months === 1 ? "1 month ago" : months + " months ago";
    const years = Math.max(1, Math.floor(days / 365.25));
    return years === 1 ? "1 year ago" : years + " years ago";
  }

  // The exact time, in the reader's time zone and locale, named.
  function exact(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
  }

  // A <time> element: relative text, the exact time in its title (shown on hover).
  function element(ms) {
    const t = document.createElement("time");
    if (!ms) return t;
    t.className = "relative-time";
    t.dateTime = new Date(ms).toISOString();
    t.dataset.ms = String(ms);
    t.title = exact(ms);
    t.textContent = relative(ms);
    return t;
  }

  // Relative texts age: refresh those on the page every 30 seconds.
  setInterval(() => {
    const now = Date.now();
    for (const t of document.querySelectorAll("time.relative-time")) t.textContent = relative(+t.dataset.ms, now);
  }, 30 * 1000);

  window.TrackwireTimes = { relative, exact, element };
})();
