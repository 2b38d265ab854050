// report.html: report.md rendered by marked into one self-contained page that opens offline.
// Figures that stand alone in a paragraph are inlined as PNG data (those named in `figures`
// and present in the folder; any other image is left out), and the gallery's Markdown table
// (predictions only) gives way to its HTML table with the images.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Marked, type Token, type Tokens } from 'marked';

const STYLE = [
  'body{font-family:DejaVu Sans,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}',
  'table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;text-align:right}',
  'th:first-child,td:first-child{text-align:left}th{background:#f0f0f0}',
  'img{max-width:100%;border:1px solid #ddd}img.gallery{width:84px;height:84px;image-rendering:pixelated}' +
    'td.g{text-align:center}figure{margin:1.5em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}',
].join('\n');

/** Text for HTML elements and attribute values. */
export function escapeHtml(x: string): string {
  return x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The page for `md`; `dir` holds the figures' PNGs, `figures` names those to inline, and
 * `gallery` is the HTML that replaces the table of the "## Gallery" section.
 */
export function reportHtml(md: string, dir: string, figures: string[], gallery: string): string {
  const figure = (image: Tokens.Image): string => {
    const name = image.href.replace(/\.png$/, '');
    if (!figures.includes(name) || !existsSync(join(dir, image.href))) return '';
    const b64 = readFileSync(join(dir, image.href)).toString('base64');
    return `<figure><img alt="${escapeHtml(image.text)}" src="data:image/png;base64,${b64}"><figcaption>${escapeHtml(image.text)}</figcaption></figure>\n`;
  };
  const galleryToken: Tokens.HTML = { type: 'html', raw: '', text: `${gallery}\n`, pre: false, block: true };
  const marked = new Marked({
    gfm: true,
    hooks: {
      processAllTokens: (tokens) => {
        let inGallery = false;
        return tokens.map((t): Token => {
          if (t.type === 'heading' && (t as Tokens.Heading).depth <= 2) inGallery = (t as Tokens.Heading).text === 'Gallery';
          return inGallery && t.type === 'table' ? galleryToken : t;
        });
      },
    },
    renderer: {
      // the report's text carries names from users' files (class names, model settings): any
      // HTML in it is shown as text, never run; only the gallery's own table is HTML
      html: (h) => (h === galleryToken ? h.text : escapeHtml(h.text)),
      paragraph(p) {
        const only = p.tokens.length === 1 ? p.tokens[0]! : null;
        return only?.type === 'image' ? figure(only as Tokens.Image) : false;
      },
    },
  });
  const body = marked.parse(md, { async: false });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sauron reproduction</title>
<style>
${STYLE}
</style></head><body>
${body}
</body></html>
`;
}
