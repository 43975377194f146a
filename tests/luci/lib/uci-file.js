// Reads a UCI config file (as /etc/config/NAME holds it) into the `values` that rpcd's
// `uci get {"config": NAME}` answers: each section with .anonymous, .type, .name, .index,
// its options as strings and its lists as arrays. Enough of the syntax for test fixtures:
// comments, 'single' and "double" quotes, backslashes; no `package` sections.
'use strict';

/* The words of one line, quotes joined as uci joins them ('a'"b"c is abc). */
function words(line, where) {
	const out = [];
	let i = 0;
	while (i < line.length) {
		while (i < line.length && /\s/.test(line[i])) i++;
		if (i >= line.length || line[i] === '#') break;
		let w = '';
		while (i < line.length && !/\s/.test(line[i])) {
			const q = line[i];
			if (q === "'" || q === '"') {
				const end = line.indexOf(q, i + 1);
				if (end < 0) throw new Error(`${where}: quote never closed`);
				const body = line.slice(i + 1, end);
				w += q === '"' ? body.replace(/\\(.)/g, '$1') : body;
				i = end + 1;
			} else if (q === '\\' && i + 1 < line.length) {
				w += line[i + 1];
				i += 2;
			} else {
				w += q;
				i++;
			}
		}
		out.push(w);
	}
	return out;
}

function parse(text, name) {
	const values = {};
	let sec = null, index = 0, anon = 0;
	text.split(/\r?\n/).forEach((line, n) => {
		const where = `${name}:${n + 1}`;
		const w = words(line, where);
		if (!w.length) return;
		if (w[0] === 'config') {
			const sid = w[2] != null ? w[2] : `cfg${(++anon).toString(16).padStart(2, '0')}${'0'.repeat(4)}`;
			sec = values[sid] = { '.anonymous': w[2] == null, '.type': w[1], '.name': sid, '.index': index++ };
		} else if (w[0] === 'option' || w[0] === 'list') {
			if (!sec) throw new Error(`${where}: ${w[0]} before the first section`);
			if (w.length !== 3) throw new Error(`${where}: ${w[0]} wants a name and a value`);
			if (w[0] === 'option')
				sec[w[1]] = w[2];
			else
				sec[w[1]] = (Array.isArray(sec[w[1]]) ? sec[w[1]] : []).concat([w[2]]);
		} else {
			throw new Error(`${where}: unknown keyword ${w[0]}`);
		}
	});
	return values;
}

module.exports = { parse, words };
