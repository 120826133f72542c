// Image sets for the dataset examples (www/sets.js): zips read (stored and deflated entries,
// nested paths, what is not a picture left out) and refused with a reason; folders opened or
// dropped named by their paths in the set, as the CLI names them.
// Run: node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { droppedSet, folderSet, zipSet } from '../../www/sets.js';

// A zip of `entries` ([path, bytes, method, flags]), written as zip tools write them.
function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [path, bytes, method = 8, flags = 0] of entries) {
    const name = Buffer.from(path);
    const data = method === 8 ? deflateRawSync(bytes) : Buffer.from(bytes);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(bytes.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(bytes.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const file = (bytes, name) => new File([bytes], name);
const text = async (blob) => Buffer.from(await blob.arrayBuffer()).toString();
const picture = (n) => Buffer.from(`picture ${n} `.repeat(50)); // compresses

test('a zip: its pictures by path, in path order, stored or deflated; the rest left out', async () => {
  const bytes = zip([
    ['street/b.jpg', picture(2)],
    ['a.png', picture(1), 0],
    ['street/night/c.WEBP', picture(3)],
    ['notes.txt', Buffer.from('not a picture')],
    ['__MACOSX/street/._b.jpg', picture(9)],
    ['.hidden/d.png', picture(9)],
    ['park/', Buffer.alloc(0), 0],
  ]);
  const set = await zipSet(file(bytes, 'Holiday.zip'));
  assert.equal(set.name, 'Holiday');
  assert.deepEqual(set.files.map((f) => f.name), ['a.png', 'street/b.jpg', 'street/night/c.WEBP']);
  assert.equal(await text(set.files[0].blob), picture(1).toString());
  assert.equal(await text(set.files[1].blob), picture(2).toString());
  assert.equal(await text(set.files[2].blob), picture(3).toString());
});

test('a file that is no readable zip is refused with the reason', async () => {
  const refuses = (bytes, name, why) => assert.rejects(zipSet(file(bytes, name)), (e) => e.message.startsWith(`${name} is not a zip file this page can read`) && why.test(e.message), why.source);
  await refuses(Buffer.from('just some text, no archive at all'), 'notes.zip', /no end of central directory/);
  const good = zip([['a.png', picture(1)]]);
  await refuses(good.subarray(0, 20), 'cut.zip', /no end of central directory/);
  // The central directory says where entries are: point it past the end.
  const moved = Buffer.from(good);
  moved.writeUInt32LE(moved.length + 100, moved.length - 6);
  await refuses(moved, 'moved.zip', /a broken central directory/);
  await refuses(zip([['a.png', picture(1), 12]]), 'bzip.zip', /a\.png uses compression method 12/);
  await refuses(zip([['a.png', picture(1), 8, 1]]), 'locked.zip', /a\.png is encrypted/);
  const garbled = zip([['a.png', picture(1), 0]]);
  garbled.writeUInt16LE(8, 8); // the local header and the directory now say deflated: not a deflate stream
  garbled.writeUInt16LE(8, garbled.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
  await refuses(garbled, 'garbled.zip', /a\.png does not inflate/);
});

test('a folder opened or dropped: its pictures by their path under it, hidden files left out', async () => {
  const opened = folderSet([
    { name: 'b.jpg', webkitRelativePath: 'trip/day2/b.jpg' },
    { name: 'a.png', webkitRelativePath: 'trip/a.png' },
    { name: 'list.txt', webkitRelativePath: 'trip/list.txt' },
    { name: '._a.png', webkitRelativePath: 'trip/._a.png' },
  ]);
  assert.equal(opened.name, 'trip');
  assert.deepEqual(opened.files.map((f) => f.name), ['a.png', 'day2/b.jpg']);

  // A dropped folder's entries, read in batches as browsers give them.
  const fileEntry = (name) => ({ name, isDirectory: false, file: (ok) => ok(new Blob([name])) });
  const dirEntry = (name, children) => ({
    name, isDirectory: true,
    createReader() {
      const batches = [children.slice(0, 2), children.slice(2), []];
      return { readEntries: (ok) => ok(batches.shift()) };
    },
  });
  const dropped = await droppedSet(dirEntry('trip', [fileEntry('z.jpg'), dirEntry('day2', [fileEntry('b.jpg')]), fileEntry('list.txt'), fileEntry('a.png'), dirEntry('.cache', [fileEntry('x.png')])]));
  assert.equal(dropped.name, 'trip');
  assert.deepEqual(dropped.files.map((f) => f.name), ['a.png', 'day2/b.jpg', 'z.jpg']);
  assert.equal(await text(dropped.files[1].blob), 'b.jpg');
});
