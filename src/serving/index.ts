/** Serving: modules' sessions in worker threads, with dynamic batching, warm-up and back-pressure. */
export { createServedSession, type ServedSession, type ServedSessionOptions } from './served-session';
export { recipeForSelected, type SessionRecipe, type CandidateRecipe, type SourceRecipe } from './session-recipe';
export { ServingConfigInput, resolveServingConfig, batchingFromProfile, type ServingConfig } from './serving-config';
export { recordedInputs, warmUp } from './warmup';
export { serveSelected } from './serve-module';
export { servePipeline, releasePipeline, type ServePipelineOptions } from './serve-pipeline';
