/**
 * Turning service configurations into running services with brokers.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { effectiveSource } from "../config/cross-checks.ts";
import type { Config, ServiceConfig } from "../config/schema.ts";
import { type Clock, CredentialBroker, type FetchEvent, systemClock } from "../credentials/broker.ts";
import { createCredentialFetcher } from "../credentials/service-credentials.ts";
import type { ClockSkewEvent } from "../credentials/sts.ts";
import { describeSource } from "../credentials/source.ts";
import type { SecretRedactor } from "../observability/redactor.ts";
import type { Service } from "./registry.ts";

/** Context that every service built from one configuration shares. */
export interface BuildContext {
  config: Config;
  clock?: Clock;
  env?: Record<string, string | undefined>;
  redactor?: SecretRedactor;
  /** Extra observer of fetches, such as metrics. */
  onFetch?: (event: FetchEvent) => void;
  /**
   * Called whenever STS reported that the local clock is off and a call was signed again
   * with STS's time. `skewMs` is server time minus local time, for a clock skew metric.
   */
  onClockSkew?: (event: ClockSkewEvent & { service: string }) => void;
  random?: () => number;
}

/**
 * Maximum time of a whole fetch, in multiples of the STS request timeout: loading the
 * source credentials, one STS call, its clock-skew retry and a role-chaining retry.
 */
const FETCH_TIMEOUT_REQUESTS = 4;

/** Builds a service and its broker; the broker is not started. */
export function buildService(name: string, serviceConfig: ServiceConfig, context: BuildContext, origin = "config"): Service {
  const logger = getLogger(["credproxy", "credentials"]);
  const clock = context.clock ?? systemClock;
  const source = effectiveSource(context.config, serviceConfig);
  const role = serviceConfig.assumed_role;
  const redactor = context.redactor;

  redactor?.set(`config:${name}`, [
    serviceConfig.auth_token,
    source.iam_keys?.aws_secret_access_key,
    source.iam_keys?.session_token,
    role?.ExternalId,
  ]);

  const fetchCredentials = createCredentialFetcher({
    serviceName: name,
    source,
    role,
    requestTimeoutMs: context.config.credentials.request_timeout * 1000,
    env: context.env,
    now: () => clock.now(),
    observer: {
      onClockSkew(event) {
        logger.warn("The local clock differs from STS's by {skewSeconds} s; signed {action} of service {service} again with STS's time", {
          service: name,
          action: event.action,
          skewSeconds: Math.round(event.skewMs / 1000),
          errorCode: event.errorCode,
        });
        context.onClockSkew?.({ ...event, service: name });
      },
      onDurationCapped(event) {
        logger.warn(
          "STS refused DurationSeconds {requestedSeconds} for {roleArn} of service {service} because the source credentials are temporary (role chaining); using {grantedSeconds}",
          { service: name, ...event },
        );
      },
    },
  });

  const broker = new CredentialBroker({
    service: name,
    fetch: async () => {
      const credentials = await fetchCredentials();
      redactor?.set(`served:${name}`, [credentials.secretAccessKey, credentials.sessionToken]);
      return credentials;
    },
    refreshBufferSeconds: context.config.credentials.refresh_buffer_seconds,
    retryDelaySeconds: context.config.credentials.retry_delay,
    fetchTimeoutSeconds: context.config.credentials.request_timeout * FETCH_TIMEOUT_REQUESTS,
    clock,
    random: context.random,
    onFetch(event) {
      if (event.outcome === "success") {
        logger.info("Fetched credentials of service {service} ({reason}); they expire at {expiration}", {
          service: event.service,
          reason: event.reason,
          expiration: event.expiration.toISOString(),
          durationMs: event.durationMs,
          roleArn: role?.RoleArn,
        });
      } else {
        logger.warn("Cannot fetch credentials of service {service}: {errorMessage}; retrying in {retryInSeconds} s", {
          service: event.service,
          reason: event.reason,
          errorCode: event.error.code,
          errorMessage: event.error.message,
          roleArn: role?.RoleArn,
          source: describeSource(source),
          externalIdSet: role?.ExternalId !== undefined,
          mfaSet: role?.SerialNumber !== undefined,
          retryInSeconds: Math.round(event.retryInMs / 1000),
        });
      }
      context.onFetch?.(event);
    },
  });
  return { name, origin, broker, metadataPaths: serviceConfig.metadata_paths };
}
