/* The landing page: four entrances. */
window.CL.ready(() => {});
