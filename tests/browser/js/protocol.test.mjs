// The generated protocol module (frontend/app/protocol.js, from `parley protocol generate`)
// loaded as the browser loads it, against the good and bad fixtures of every frame type that
// tests/protocol/test_catalog.py also runs through the Python parser and schemas.
import { register } from "node:module";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";

register(new URL("./import-map-hooks.mjs", import.meta.url));
const protocol = await import("parley/protocol.js");
const fixtures = JSON.parse(
  readFileSync(new URL("../../protocol/fixtures/frames.json", import.meta.url), "utf8"),
);
const validate = {
  client: protocol.validateClientFrame,
  server: protocol.validateServerFrame,
};

test("the type lists name exactly the fixture types", () => {
  assert.deepEqual([...protocol.clientTypes].sort(), Object.keys(fixtures.client).sort());
  assert.deepEqual([...protocol.serverTypes].sort(), Object.keys(fixtures.server).sort());
  for (const side of ["client", "server"]) {
    for (const type of Object.keys(fixtures[side])) assert.equal(protocol.versions[side][type], 1);
  }
});

for (const side of ["client", "server"]) {
  for (const [type, cases] of Object.entries(fixtures[side])) {
    test(`${side} ${type}: good frames are valid`, () => {
      assert.ok(cases.good.length > 0);
      for (const frame of cases.good) assert.deepEqual(validate[side](frame), { valid: true }, JSON.stringify(frame));
    });
    test(`${side} ${type}: bad frames are invalid and name the field`, () => {
      assert.ok(cases.bad.length > 0);
      for (const [frame, field] of cases.bad) {
        const verdict = validate[side](frame);
        assert.equal(verdict.valid, false, JSON.stringify(frame));
        assert.equal(verdict.field, field, JSON.stringify(frame));
        assert.equal(typeof verdict.message, "string");
      }
    });
  }
}

test("unknown, missing or non-string types are invalid; so is a non-object", () => {
  for (const [frame, field] of fixtures.unknown) {
    for (const side of ["client", "server"]) {
      const verdict = validate[side](frame);
      assert.equal(verdict.valid, false);
      assert.equal(verdict.field, field);
    }
  }
  assert.equal(protocol.validateServerFrame([{ type: "pong" }]).valid, false);
  assert.equal(protocol.validateServerFrame(null).valid, false);
});
