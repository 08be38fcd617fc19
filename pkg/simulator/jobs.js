// Bulk jobs: POST /users/create_or_update_many queues a job; /job_statuses/{id} reports it.

import { isoSeconds, randomHex, isPlainObject, ApiError, notFound, recordInvalid, missingParameter, readJson, ok } from "./util.js";

const MAX_BULK_USERS = 100;

/** Adds the jobs handlers and routes to the simulator core `sim`. */
export function installJobs(sim) {
  function renderJob(job, origin) {
    return {
      id: job.id,
      url: `${origin}/api/v2/job_statuses/${job.id}.json`,
      job_type: "Bulk Create or Update Users",
      total: job.total,
      progress: job.status === "completed" ? job.total : job.status === "working" ? 0 : null,
      status: job.status,
      message: job.status === "completed" ? `Completed at ${isoSeconds(job.completedMs)}` : null,
      results: job.results,
    };
  }

  // ----- bulk jobs -------------------------------------------------------------------------------------

  const unfinishedJobs = () => [...sim.account.unfinishedJobs];

  function completeJob(job) {
    job.results = job.items.map((attrs, index) => {
      const email = typeof attrs?.email === "string" ? attrs.email : null;
      const externalId = attrs?.external_id != null ? String(attrs.external_id) : null;
      try {
        if (!isPlainObject(attrs)) throw recordInvalid({ user: [{ description: "User: must be an object", error: "InvalidValue" }] });
        const matched = sim.matchUserForCreateOrUpdate(attrs);
        const user = sim.planUserWrite(matched, attrs).apply();
        sim.account.counters[matched ? "usersUpdated" : "usersCreated"]++;
        return { id: user.id, index, status: matched ? "Updated" : "Created", email: sim.primaryEmail(user), external_id: user.external_id };
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const details = Object.values(error.body.details ?? {}).flat();
        return {
          id: null, // Zendesk may put a meaningless id on failed items; null here
          index,
          status: "Failed",
          error: details[0]?.error ?? error.body.error,
          details: details.map((detail) => detail.description).join("; ") || error.body.description,
          email,
          external_id: externalId,
        };
      }
    });
    job.status = "completed";
    job.completedMs = sim.now();
    sim.account.unfinishedJobs.delete(job);
    sim.account.counters.jobsCompleted++;
  }

  // Jobs also finish on their own after `jobDurationMs` of simulated time.
  function completeDueJobs() {
    const at = sim.now();
    for (const job of unfinishedJobs()) if (at >= job.dueMs) completeJob(job);
  }

  sim.route("POST", "/users/create_or_update_many", (request) => {
    if (!sim.config.bulkImport) {
      throw new ApiError(403, { error: "Forbidden", description: "Bulk user import is not enabled for this sim.account. The account owner must ask Zendesk to enable it." });
    }
    const body = readJson(request);
    if (!isPlainObject(body) || !Array.isArray(body.users) || body.users.length === 0) throw missingParameter("users");
    if (body.users.length > MAX_BULK_USERS) {
      throw new ApiError(400, { error: "InvalidValue", description: `Too many users: at most ${MAX_BULK_USERS} per request` });
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
      status: "queued",
      total: body.users.length,
      items: body.users,
      results: null,
      polls: 0,
      createdMs: sim.now(),
      dueMs: sim.now() + sim.config.jobDurationMs,
      completedMs: null,
    };
    sim.account.jobs.set(job.id, job);
    sim.account.unfinishedJobs.add(job);
    sim.account.counters.jobsCreated++;
    return ok(200, { job_status: renderJob(job, request.origin) });
  });

  sim.route("GET", `/job_statuses/([0-9A-Za-z_-]+)`, (request, jobId) => {
    const job = sim.account.jobs.get(jobId);
    if (!job) throw notFound();
    if (job.status !== "completed") {
      job.polls++;
      if (job.polls > sim.config.jobPollsBeforeDone) completeJob(job);
      else job.status = "working";
    }
    return ok(200, { job_status: renderJob(job, request.origin) });
  });

  Object.assign(sim, { renderJob, unfinishedJobs, completeJob, completeDueJobs });
}
