// A raw HTTP request to 127.0.0.1 with any Host and headers: fetch would not send a foreign Host.
import http from "node:http";

/** `{status, headers, body}` of one request on a fresh connection. */
export function raw(port, { method = "GET", path = "/", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
