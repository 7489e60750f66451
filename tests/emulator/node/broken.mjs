// A module with a syntax error: the runtime's init fails.
export const handler = async (event) => {
  return {statusCode: 200 body: "missing comma"};
};
