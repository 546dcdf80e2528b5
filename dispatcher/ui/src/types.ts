/**
 * Shapes the UI receives (REST and ws /ui). The REST shapes are the API's schemas
 * (dispatcher/http/api-schemas.ts), imported as types only: nothing of the server is bundled.
 */
import type { ApiShapes } from '../../http/api-schemas.ts';

export type Health = ApiShapes['Health'];
export type NodeView = ApiShapes['Node'];
export type JobSpec = ApiShapes['JobSpec'];
export type Requirements = ApiShapes['Requirements'];
export type JobView = ApiShapes['Job'];
export type AttemptView = ApiShapes['Attempt'];
export type FullJob = ApiShapes['FullJob'];
export type NodeEvent = ApiShapes['NodeEvent'];
export type BootEvent = ApiShapes['BootEvent'];
export type QueueInfo = ApiShapes['Overview']['queue'];

export type FeedItem = ApiShapes['FeedItem'];
export type MinuteCount = ApiShapes['MinuteCount'];
export type HealthSample = ApiShapes['HealthSample'];
