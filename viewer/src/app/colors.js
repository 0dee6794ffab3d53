// Colours: one hue family per datasource in a fleet answer (its series are shades of that
// hue), and well-separated hues for the series of a single datasource.

const HUES = [210, 25, 140, 280, 0, 50, 175, 320, 95, 240];
const GOLDEN = 137.508;

function hsl(hue, saturation, lightness) {
  return `hsl(${Math.round(hue)}, ${saturation}%, ${lightness}%)`;
}

/** One colour per item of `datasources` (a datasource id per series, or null for all of a
 * single-datasource answer): `{color, hue}`, hue shared by a datasource's series. */
export function familyColors(datasources) {
  const fleet = datasources.some((id) => id !== null);
  if (!fleet) {
    return datasources.map((_, i) => {
      const hue = i < HUES.length ? HUES[i] : (i * GOLDEN) % 360;
      return { hue, color: hsl(hue, 70, 50) };
    });
  }
  const order = [...new Set(datasources)];
  const counts = new Map();
  const sizes = new Map(order.map((id) => [id, datasources.filter((d) => d === id).length]));
  return datasources.map((id) => {
    const family = order.indexOf(id);
    const hue = family < HUES.length ? HUES[family] : (family * GOLDEN) % 360;
    const nth = counts.get(id) || 0;
    counts.set(id, nth + 1);
    const size = sizes.get(id);
    // shades from 35% to 65% lightness within the family
    const lightness = size === 1 ? 50 : 35 + (30 * nth) / (size - 1);
    return { hue, color: hsl(hue, 75, lightness) };
  });
}
