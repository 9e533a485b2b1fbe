"""Vector simulation: objectives, gradient noise, the step-API algorithms and the step driver."""
