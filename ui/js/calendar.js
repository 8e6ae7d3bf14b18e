// An iCalendar (.ics, RFC 5545) file with a campaign's draw and the start of issuing, each with
// a reminder ten minutes before, made in the UI and offered as a download (no network).

function stamp(instant) {
  return new Date(instant).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Escapes TEXT values and folds lines longer than 75 octets, as RFC 5545 asks. */
function text(value) {
  return String(value).replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r?\n/g, '\\n');
}

function fold(line) {
  const bytes = new TextEncoder().encode(line);
  if (bytes.length <= 75) return line;
  const out = [];
  let cur = '';
  let len = 0;
  for (const ch of line) {
    const n = new TextEncoder().encode(ch).length;
    if (len + n > (out.length ? 74 : 75)) {
      out.push(cur);
      cur = '';
      len = 0;
    }
    cur += ch;
    len += n;
  }
  out.push(cur);
  return out.join('\r\n ');
}

/**
 * events: [{ uid, start (RFC 3339), summary, description }]; `now` stamps the file.
 * Returns the file's text with CRLF line ends.
 */
export function icsFile(events, now = Date.now()) {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Lineup//Lineup app//KO', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH'];
  for (const e of events) {
    const start = Date.parse(e.start);
    lines.push(
      'BEGIN:VEVENT',
      `UID:${e.uid}`,
      `DTSTAMP:${stamp(now)}`,
      `DTSTART:${stamp(start)}`,
      `DTEND:${stamp(start + 10 * 60_000)}`,
      `SUMMARY:${text(e.summary)}`,
      `DESCRIPTION:${text(e.description)}`,
      'BEGIN:VALARM',
      'ACTION:DISPLAY',
      `DESCRIPTION:${text(e.summary)}`,
      'TRIGGER:-PT10M',
      'END:VALARM',
      'END:VEVENT',
    );
  }
  lines.push('END:VCALENDAR');
  return lines.map(fold).join('\r\n') + '\r\n';
}

/** The draw and the opening of a campaign as calendar events. */
export function campaignEvents(campaign, title, tr) {
  const events = [];
  if (campaign.draw_at) {
    events.push({ uid: `${campaign.id}-draw@lineup`, start: campaign.draw_at, summary: tr('calendar.draw', { title }), description: tr('calendar.body') });
  }
  if (campaign.opens_at) {
    events.push({ uid: `${campaign.id}-open@lineup`, start: campaign.opens_at, summary: tr('calendar.open', { title }), description: tr('calendar.body') });
  }
  return events;
}
