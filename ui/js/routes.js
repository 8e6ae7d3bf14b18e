// Hash routes of the app: '#/claim/<id>', '#/wallet/<campaign>/<serial>' (QR open), and so on.
// Unknown routes fall back to the campaign list.

export function parseRoute(hash) {
  const parts = (hash || '').replace(/^#\/?/, '').split('/').filter(Boolean).map(safeDecode);
  const name = parts[0] || 'campaigns';
  switch (name) {
    case 'claim':
      return parts[1] ? { name, params: { id: parts[1] } } : { name: 'campaigns', params: {} };
    case 'wallet':
      return { name, params: parts.length >= 3 ? { campaign: parts[1], serial: parts[2] } : {} };
    case 'register':
    case 'campaigns':
    case 'settings':
    case 'help':
      return { name, params: {} };
    default:
      return { name: 'campaigns', params: {} };
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The hash that opens a wallet entry's QR code. */
export function walletEntryHash(campaignId, serial) {
  return `#/wallet/${encodeURIComponent(campaignId)}/${encodeURIComponent(String(serial))}`;
}
