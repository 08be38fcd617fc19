// Custom user and organization fields: definitions, value checks, and the *_fields routes.

import { isoSeconds, toId, isPlainObject, isCalendarDate, notFound, ValidationDetails, missingParameter, readRoot, ok, paginate, ID } from "./util.js";
import { toJson } from "./json.js";

const FIELD_TYPES = new Set(["text", "textarea", "checkbox", "date", "integer", "decimal", "regexp", "dropdown", "lookup", "multiselect"]);

const ADMIN = { admin: true };

/** Adds the fields handlers and routes to the simulator core `sim`. */
export function installFields(sim) {
  function renderFields(fields, values) {
    const rendered = {};
    for (const field of fields) rendered[field.key] = values[field.key] ?? null;
    return rendered;
  }

  function renderField(field, origin, collection) {
    return {
      id: field.id,
      url: `${origin}/api/v2/${collection}/${field.id}.json`,
      key: field.key,
      type: field.type,
      title: field.title,
      raw_title: field.title,
      description: field.description,
      raw_description: field.description,
      position: field.position,
      active: true,
      system: false,
      regexp_for_validation: field.regexp_for_validation,
      tag: field.tag,
      custom_field_options: field.custom_field_options,
      created_at: isoSeconds(field.createdMs),
      updated_at: isoSeconds(field.createdMs),
    };
  }

  // ----- custom field values ------------------------------------------------------------------------

  // A date field takes a date-time at midnight UTC too, and keeps its date (issue 8's review of
  // Zendesk's behaviour; which offsets count as midnight is an assumption: UTC only).
  function midnightDate(value) {
    const match = typeof value === "string" && /^(\d{4}-\d{2}-\d{2})T00:00:00(?:\.0+)?(?:Z|[+-]00:?00)$/.exec(value);
    return match && isCalendarDate(match[1]) ? match[1] : null;
  }

  // Returns null when the value fits the field, else what was expected.
  function fieldValueProblem(field, value) {
    if (value === null) return null; // null clears a value
    const optionValues = (field.custom_field_options ?? []).map((option) => option.value);
    switch (field.type) {
      case "text":
      case "textarea":
        return typeof value === "string" ? null : "a string";
      case "checkbox":
        return typeof value === "boolean" ? null : "true or false";
      case "integer":
        return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value)) ? null : "an integer";
      case "decimal":
        return typeof value === "bigint" || (typeof value === "number" && Number.isFinite(value)) ? null : "a number";
      case "date":
        return isCalendarDate(value) || midnightDate(value) ? null : "a date as YYYY-MM-DD";
      case "regexp":
        return typeof value === "string" && new RegExp(field.regexp_for_validation ?? "").test(value) ? null : `a string matching ${field.regexp_for_validation}`;
      case "dropdown":
        return typeof value === "string" && optionValues.includes(value) ? null : `one of ${JSON.stringify(optionValues)}`;
      case "multiselect":
        return Array.isArray(value) && value.every((item) => optionValues.includes(item)) ? null : `a list of ${JSON.stringify(optionValues)}`;
      case "lookup":
        return toId(value) !== null ? null : "a record id";
      default:
        return null;
    }
  }

  // Checks a `user_fields` / `organization_fields` object. Unknown keys are not stored (as in Zendesk).
  // Returns the accepted {key: value} pairs; type mismatches go to `problems` under the field's key.
  function checkCustomFieldValues(values, fields, attribute, problems) {
    if (values === undefined || values === null) return {};
    if (!isPlainObject(values)) {
      problems.add(attribute, "InvalidValue", `${attribute}: must be an object of field keys to values`);
      return {};
    }
    const accepted = {};
    for (const [key, value] of Object.entries(values)) {
      const field = fields.find((candidate) => candidate.key === key);
      if (!field) continue;
      const expected = fieldValueProblem(field, value);
      if (expected) problems.add(key, "InvalidValue", `${field.title}: ${toJson(value)} is not valid, expected ${expected}`);
      else accepted[key] = field.type === "date" && midnightDate(value) ? midnightDate(value) : value;
    }
    return accepted;
  }

  // A checkbox with a tag adds the tag when checked and removes it when unchecked.
  function applyCheckboxTags(tags, fields, values) {
    const tagSet = new Set(tags);
    for (const [key, value] of Object.entries(values)) {
      const field = fields.find((candidate) => candidate.key === key);
      if (field?.type !== "checkbox" || !field.tag) continue;
      if (value === true) tagSet.add(field.tag);
      else tagSet.delete(field.tag);
    }
    return [...tagSet];
  }

  // Zendesk lowercases tags and splits on whitespace.
  // ----- custom field definitions ---------------------------------------------------------------------

  function planFieldCreate(definition, fields) {
    const problems = new ValidationDetails();
    if (!isPlainObject(definition)) throw missingParameter(fields === sim.account.userFields ? "user_field" : "organization_field");
    // No type: a text field (issue 8's review of Zendesk's User Fields API; not in our reference).
    const { type = "text", title, key } = definition;
    if (!FIELD_TYPES.has(type)) problems.add("type", "InvalidValue", `Type: ${toJson(type)} is not included in the list`);
    if (typeof title !== "string" || !title.trim()) problems.add("title", "BlankValue", "Title: cannot be blank");
    if (typeof key !== "string" || !key) problems.add("key", "BlankValue", "Key: cannot be blank");
    else if (!/^[A-Za-z0-9_]+$/.test(key) || /^\d+$/.test(key)) {
      problems.add("key", "InvalidValue", "Key: can only contain letters, numbers and underscores, and cannot be only numbers");
    } else if (fields.some((field) => field.key === key)) {
      problems.add("key", "DuplicateValue", "Key: has already been taken");
    }
    if (type === "dropdown" || type === "multiselect") {
      const options = definition.custom_field_options;
      if (!Array.isArray(options) || options.length === 0 || !options.every((o) => isPlainObject(o) && typeof o.value === "string")) {
        problems.add("custom_field_options", "BlankValue", "Field options: must have at least one option with a value");
      }
    }
    if (type === "regexp") {
      try {
        new RegExp(definition.regexp_for_validation ?? "");
        if (typeof definition.regexp_for_validation !== "string") throw new Error("missing");
      } catch {
        problems.add("regexp_for_validation", "InvalidValue", "Regexp for validation: is invalid");
      }
    }
    problems.throwIfAny();
  }

  function createField(definition, fields, kind) {
    const field = {
      id: sim.allocateId(kind),
      key: definition.key,
      type: definition.type ?? "text",
      title: definition.title.trim(),
      description: definition.description ?? "",
      position: definition.position ?? fields.length + 1,
      regexp_for_validation: definition.regexp_for_validation ?? null,
      tag: definition.type === "checkbox" ? definition.tag ?? null : null,
      custom_field_options: definition.custom_field_options
        ? definition.custom_field_options.map((option) => ({ name: option.name ?? option.value, value: option.value }))
        : undefined,
      createdMs: sim.now(),
    };
    fields.push(field);
    sim.account.counters.fieldsCreated++;
    return field;
  }

  for (const [collection, rootKey, kind, fieldsOf] of [
    ["user_fields", "user_field", "userField", () => sim.account.userFields],
    ["organization_fields", "organization_field", "organizationField", () => sim.account.organizationFields],
  ]) {
    sim.route("GET", `/${collection}`, (request) =>
      ok(200, paginate(request, fieldsOf(), collection, (field) => renderField(field, request.origin, collection))),
    );
    sim.route("GET", `/${collection}/${ID}`, (request, id) => {
      const field = fieldsOf().find((candidate) => candidate.id === BigInt(id));
      if (!field) throw notFound();
      return ok(200, { [rootKey]: renderField(field, request.origin, collection) });
    });
    // Show User Field accepts the key in place of the id ("GET /user_fields/{user_field_id_or_key}").
    sim.route("GET", `/${collection}/([A-Za-z0-9_]*[A-Za-z_][A-Za-z0-9_]*)`, (request, key) => {
      const field = fieldsOf().find((candidate) => candidate.key === key);
      if (!field) throw notFound();
      return ok(200, { [rootKey]: renderField(field, request.origin, collection) });
    });
    sim.route("POST", `/${collection}`, (request) => {
      const definition = readRoot(request, rootKey);
      planFieldCreate(definition, fieldsOf());
      const field = createField(definition, fieldsOf(), kind);
      return ok(201, { [rootKey]: renderField(field, request.origin, collection) }, { location: `${request.origin}/api/v2/${collection}/${field.id}.json` });
    }, ADMIN);
  }

  Object.assign(sim, { renderFields, renderField, fieldValueProblem, checkCustomFieldValues, applyCheckboxTags, planFieldCreate, createField });
}
