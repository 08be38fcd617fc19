// Bulk jobs: every `*_many` write queues a background job; /job_statuses/{id} and
// /job_statuses/show_many?ids= report it. Sources: Zendesk's API reference pages "Users" (Create Or
// Update Many Users, Update Many Users), "Organizations" (Create Many Organizations, Update Many
// Organizations), "Organization Memberships" (Create Many Memberships) and "Job Statuses" (Show Job
// Status, Show Many Job Statuses); the 30-jobs limit and TooManyJobs from "Rate limits".
//
// Assumptions, where those pages are silent:
// - A job finishes `jobDurationMs + jobItemMs × items` of simulated time after it was queued (the
//   defaults, 2 s + 0 ms, keep tests short; the benchmark sets a per-item cost), or on the poll after
//   `jobPollsBeforeDone` polls (pass Infinity for time alone). Jobs run side by side.
// - Each result is `{index, id, action, status, success}` plus `external_id`/`email` for users and
//   `error`/`details` when it failed (documented: action, id, status, success; the rest seen in
//   clients). Results come back in input order here; the engine must not rely on it.
// - Only create_or_update_many needs bulk import (403 without it, as documented); the other `*_many`
//   endpoints have no such switch in the reference.

import { isoSeconds, randomHex, isPlainObject, toId, ApiError, notFound, recordInvalid, missingParameter, readJson, ok } from "./util.js";

const MAX_BULK_ITEMS = 100;
const MAX_SHOW_MANY_JOBS = 100;

/** Adds the jobs handlers and routes to the simulator core `sim`. */
export function installJobs(sim) {
  function renderJob(job, origin) {
    return {
      id: job.id,
      url: `${origin}/api/v2/job_statuses/${job.id}.json`,
      job_type: job.type,
      total: job.total,
      progress: job.status === "completed" ? job.total : job.status === "working" ? 0 : null,
      status: job.status,
      message: job.status === "completed" ? `Completed at ${isoSeconds(job.completedMs)}` : (job.message ?? null),
      results: job.results,
    };
  }

  // ----- bulk jobs -------------------------------------------------------------------------------------

  const unfinishedJobs = () => [...sim.account.unfinishedJobs];

  /** A failed item in Zendesk's words, from the ApiError a single write would have answered. */
  function failure(error) {
    const details = Object.values(error.body.details ?? {}).flat();
    return {
      status: "Failed",
      success: false,
      error: details[0]?.error ?? error.body.error ?? error.body.errors?.[0]?.code,
      details: details.map((detail) => detail.description).join("; ") || error.body.description || error.body.errors?.[0]?.title,
    };
  }

  // One function per job type: applies one item and returns its result fields (or throws an ApiError).
  const appliers = {
    "Bulk Create or Update Users": (attrs) => {
      if (!isPlainObject(attrs)) throw recordInvalid({ user: [{ description: "User: must be an object", error: "InvalidValue" }] });
      const matched = sim.matchUserForCreateOrUpdate(attrs);
      const user = sim.planUserWrite(matched, attrs).apply();
      sim.account.counters[matched ? "usersUpdated" : "usersCreated"]++;
      return { id: user.id, action: matched ? "update" : "create", status: matched ? "Updated" : "Created", email: sim.primaryEmail(user), external_id: user.external_id };
    },
    "Bulk Update Users": (attrs) => {
      const user = isPlainObject(attrs) ? sim.getUser(toId(attrs.id)) : undefined;
      if (!user || !user.active) throw notFound();
      const { id: _id, ...change } = attrs;
      sim.planUserWrite(user, change).apply();
      sim.account.counters.usersUpdated++;
      return { id: user.id, action: "update", status: "Updated", email: sim.primaryEmail(user), external_id: user.external_id };
    },
    "Bulk Create Organizations": (attrs) => {
      if (!isPlainObject(attrs)) throw recordInvalid({ organization: [{ description: "Organization: must be an object", error: "InvalidValue" }] });
      const org = sim.planOrganizationWrite(null, attrs).apply();
      sim.account.counters.organizationsCreated++;
      return { id: org.id, action: "create", status: "Created", external_id: org.external_id };
    },
    "Bulk Update Organizations": (attrs) => {
      const org = isPlainObject(attrs) ? sim.getOrganization(toId(attrs.id)) : undefined;
      if (!org) throw notFound();
      const { id: _id, ...change } = attrs;
      sim.planOrganizationWrite(org, change).apply();
      sim.account.counters.organizationsUpdated++;
      return { id: org.id, action: "update", status: "Updated", external_id: org.external_id };
    },
    // An existing membership is a failed item here, not a 422 (Zendesk's reference, Create Many Memberships).
    "Bulk Create Memberships": (attrs) => {
      const user = isPlainObject(attrs) ? sim.getUser(toId(attrs.user_id)) : undefined;
      const org = isPlainObject(attrs) ? sim.getOrganization(toId(attrs.organization_id)) : undefined;
      if (!user || !user.active || !org) throw notFound();
      if (sim.membershipsOf(user).some((m) => m.organization_id === org.id)) {
        throw recordInvalid({ user_id: [{ description: "User is already a member of this organization", error: "DuplicateValue" }] });
      }
      const membership = sim.addMembership(user, org);
      return { id: membership.id, action: "create", status: "Created", user_id: user.id, organization_id: org.id };
    },
  };

  function completeJob(job) {
    sim.account.unfinishedJobs.delete(job);
    if (job.failWhole) {
      // Assumption: a job that fails whole writes nothing and says why in `message`.
      job.status = "failed";
      job.completedMs = sim.now();
      job.message = "The job failed: an internal error occurred";
      return;
    }
    const apply = appliers[job.type];
    job.results = job.items.map((attrs, index) => {
      try {
        return { index, success: true, ...apply(attrs) };
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const who = job.type.endsWith("Users") && isPlainObject(attrs)
          ? { email: typeof attrs.email === "string" ? attrs.email : null, external_id: attrs.external_id != null ? String(attrs.external_id) : null }
          : {};
        // Zendesk may put a meaningless id on failed items; null here.
        return { index, id: null, ...failure(error), ...who };
      }
    });
    job.status = "completed";
    job.completedMs = sim.now();
    sim.account.counters.jobsCompleted++;
  }

  // Jobs also finish on their own when their time is up.
  function completeDueJobs() {
    const at = sim.now();
    for (const job of unfinishedJobs()) if (at >= job.dueMs) completeJob(job);
  }

  /** Queues a job of `type` over `items` (≤100), or refuses with TooManyJobs. */
  function queueJob(request, type, items, wrapper) {
    if (!Array.isArray(items) || items.length === 0) throw missingParameter(wrapper);
    if (items.length > MAX_BULK_ITEMS) {
      throw new ApiError(400, { error: "InvalidValue", description: `Too many ${wrapper}: at most ${MAX_BULK_ITEMS} per request` });
    }
    const unfinished = unfinishedJobs();
    if (unfinished.length >= sim.config.maxUnfinishedJobs) {
      const soonestDue = Math.min(...unfinished.map((job) => job.dueMs));
      throw new ApiError(
        429,
        { error: "TooManyJobs", description: `Number of allowed queued or running jobs (${sim.config.maxUnfinishedJobs}) exceeded` },
        { "retry-after": sim.realSecondsText(soonestDue - sim.now()) },
      );
    }
    const job = {
      id: randomHex(sim.account.tokenRandom, 32),
      type,
      status: "queued",
      total: items.length,
      items,
      results: null,
      polls: 0,
      createdMs: sim.now(),
      dueMs: sim.now() + sim.config.jobDurationMs + sim.config.jobItemMs * items.length,
      completedMs: null,
      failWhole: sim.account.jobFailures > 0 ? (sim.account.jobFailures--, true) : false,
    };
    sim.account.jobs.set(job.id, job);
    sim.account.unfinishedJobs.add(job);
    sim.account.counters.jobsCreated++;
    return ok(200, { job_status: renderJob(job, request.origin) });
  }

  function listOf(request, wrapper) {
    const body = readJson(request);
    if (!isPlainObject(body) || !Array.isArray(body[wrapper])) throw missingParameter(wrapper);
    return body[wrapper];
  }

  sim.route("POST", "/users/create_or_update_many", (request) => {
    if (!sim.config.bulkImport) {
      throw new ApiError(403, { error: "Forbidden", description: "Bulk user import is not enabled for this account. The account owner must ask Zendesk to enable it." });
    }
    return queueJob(request, "Bulk Create or Update Users", listOf(request, "users"), "users");
  });
  sim.route("PUT", "/users/update_many", (request) => queueJob(request, "Bulk Update Users", listOf(request, "users"), "users"));
  sim.route("POST", "/organizations/create_many", (request) =>
    queueJob(request, "Bulk Create Organizations", listOf(request, "organizations"), "organizations"),
  );
  sim.route("PUT", "/organizations/update_many", (request) =>
    queueJob(request, "Bulk Update Organizations", listOf(request, "organizations"), "organizations"),
  );
  sim.route("POST", "/organization_memberships/create_many", (request) =>
    queueJob(request, "Bulk Create Memberships", listOf(request, "organization_memberships"), "organization_memberships"),
  );

  /** A poll: counts towards `jobPollsBeforeDone`. */
  function poll(job) {
    if (job.status === "completed" || job.status === "failed") return;
    job.polls++;
    if (job.polls > sim.config.jobPollsBeforeDone) completeJob(job);
    else job.status = "working";
  }

  sim.route("GET", "/job_statuses/show_many", (request) => {
    const ids = (request.query.get("ids") ?? "").split(",").map((id) => id.trim()).filter(Boolean);
    if (ids.length === 0) throw missingParameter("ids");
    if (ids.length > MAX_SHOW_MANY_JOBS) throw new ApiError(400, { error: "InvalidValue", description: `At most ${MAX_SHOW_MANY_JOBS} ids` });
    const jobs = ids.map((id) => sim.account.jobs.get(id)).filter(Boolean);
    for (const job of jobs) poll(job);
    return ok(200, { job_statuses: jobs.map((job) => renderJob(job, request.origin)) });
  });

  sim.route("GET", `/job_statuses/([0-9A-Za-z_-]+)`, (request, jobId) => {
    const job = sim.account.jobs.get(jobId);
    if (!job) throw notFound();
    poll(job);
    return ok(200, { job_status: renderJob(job, request.origin) });
  });

  Object.assign(sim, { renderJob, unfinishedJobs, completeJob, completeDueJobs });
}
